"""``codeslm stats``: what the language server's suggestions cost and how many were accepted."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .. import stats


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "stats",
        parents=parents,
        help="local accept statistics of the language server",
        description="Suggestions the language server showed and the editor accepted, the "
        "accept rate by language and model, and latency percentiles of the shown and of the "
        "accepted suggestions. Kept only on this machine (see --path); never sent anywhere.",
    )
    period = p.add_mutually_exclusive_group()
    period.add_argument(
        "--day", dest="period", action="store_const", const="day", help="the last 24 hours"
    )
    period.add_argument(
        "--week",
        dest="period",
        action="store_const",
        const="week",
        help="the last 7 days (default)",
    )
    period.add_argument(
        "--all", dest="period", action="store_const", const="all", help="everything recorded"
    )
    p.add_argument("--json", action="store_true", help="print the numbers as JSON")
    p.add_argument("--path", action="store_true", help="print where the statistics are kept")
    p.add_argument("--clear", action="store_true", help="delete every recorded event")
    p.set_defaults(run=run, period="week")


def run(args: argparse.Namespace) -> int:
    if args.path:
        print(stats.store_path())
        return 0
    if args.clear:
        existed = stats.clear()
        print(f"deleted {stats.store_path()}" if existed else "no statistics were recorded")
        return 0
    data = stats.summary(period=None if args.period == "all" else args.period)
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(format_summary(data))
    return 0


def _seconds(ms: float | None) -> str:
    return "-" if ms is None else f"{ms / 1000:.2f} s"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def format_summary(data: dict[str, Any]) -> str:
    """The human report: totals, latency percentiles, then one table per grouping."""
    span = {"day": "the last 24 hours", "week": "the last 7 days"}.get(
        data["period"], "all recorded time"
    )
    if not data["shown"]:
        return (
            f"no suggestions recorded over {span} (the language server records them; "
            f"stored in {data['store']})"
        )
    cached = data["shown"] - data["from_model"]
    lines = [
        f"suggestions over {span}",
        f"  shown     {data['shown']}"
        + (f" ({data['from_model']} from the model, {cached} from the caches)" if cached else ""),
        f"  accepted  {data['accepted']} ({_rate(data['accept_rate'])})"
        + (f", {data['partially_accepted']} partly" if data["partially_accepted"] else ""),
        "  latency (what the editor waited)",
    ]
    labels = {"shown": "shown", "from_model": "from the model", "accepted": "accepted"}
    for which, label in labels.items():
        lat = data["latency_ms"][which]
        lines.append(
            f"    {label:<15} p50 {_seconds(lat['p50'])}, "
            f"p90 {_seconds(lat['p90'])}, p95 {_seconds(lat['p95'])}"
        )
    tables = (("language", "by_language"), ("model", "by_model"), ("surface", "by_surface"))
    for title, key in tables:
        groups = data[key]
        width = max([len(title), *(len(k) for k in groups)])
        lines.append("")
        lines.append(f"  {title:<{width}}  {'shown':>6}  {'accepted':>8}  {'rate':>5}")
        for name, g in groups.items():
            lines.append(
                f"  {name:<{width}}  {g['shown']:>6}  {g['accepted']:>8}  "
                f"{_rate(g['accept_rate']):>5}"
            )
    lines.append("")
    lines.append(f"stored only here: {data['store']} (codeslm stats --clear deletes it)")
    return "\n".join(lines)
