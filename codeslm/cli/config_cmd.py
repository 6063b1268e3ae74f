"""``codeslm config show``: the effective config and where each value came from."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..config import as_flat_dict
from . import common


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "config", parents=parents, help="show the effective configuration",
        description="Configuration precedence: defaults < user file < project file "
        "(pyproject.toml [tool.codeslm] or .codeslm.toml) < CODESLM_* environment < flags.",
    )
    sub = p.add_subparsers(dest="config_command", metavar="ACTION")
    show = sub.add_parser("show", parents=parents, help="print every key, its value and source")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.set_defaults(run=run_show)
    p.set_defaults(run=run_show, json=False)


def run_show(args: argparse.Namespace) -> int:
    loaded = common.load(args)
    values = as_flat_dict(loaded.config)
    if args.json:
        print(json.dumps(
            {"values": values, "sources": loaded.sources,
             "files": [str(f) for f in loaded.files]}, indent=2))
        return 0
    width = max(len(k) for k in values)
    for key, value in values.items():
        shown = json.dumps(value)
        print(f"{key:<{width}} = {shown:<24} # {loaded.sources[key]}")
    return 0
