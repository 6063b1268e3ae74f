"""What debounce the accept statistics suggest, simulated on the recorded typing session.

No model runs: the keystroke times of ``benchmarks/data/lsp_typing_session.json`` are played
against model latencies drawn (seeded) from the local accept statistics (``codeslm stats``:
the suggestions the model made, less the debounce they waited) or, with fewer than
``--min-samples`` of those, from a log-normal fitted to a measured p50/p95 (default: the fresh
model answers of the ``lsp_typing.py`` replay in benchmarks/RESULTS.md, 0.40 s / 1.77 s).

For each debounce D, a keystroke followed by the next within D costs nothing; otherwise a
model call starts after D and its suggestion is shown if it finishes before the next
keystroke, else it is cancelled and the time it ran (plus a drain of the batch in flight) is
wasted. Caches are not simulated (they serve what the user types through, at any debounce),
so this compares fresh model suggestions only::

    python benchmarks/debounce_from_stats.py [--debounce-ms 150] [--p50 0.40 --p95 1.77]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from codeslm import stats  # noqa: E402

SESSION = HERE / "data" / "lsp_typing_session.json"
DRAIN_S = 0.23  # a cancelled call still finishes its prompt batch (RESULTS.md, lsp_typing.py)
CANDIDATES_MS = (0, 50, 100, 150, 200, 300, 400, 600)


def model_latencies(store: Path, debounce_ms: float) -> list[float]:
    """Seconds of model work behind each suggestion the model made (not a cache)."""
    import sqlite3

    if not store.is_file():
        return []
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT latency_ms FROM events WHERE event = 'shown' AND cached = 0 "
            "AND latency_ms IS NOT NULL"
        ).fetchall()
    return [max(0.0, (ms - debounce_ms) / 1000.0) for (ms,) in rows]


def simulate(gaps: list[float], debounce_s: float, draw: random.Random, sample: list[float] | None,
             mu: float, sigma: float) -> dict[str, float]:
    calls = shown = cancelled = 0
    wasted = useful = 0.0
    waits: list[float] = []
    for gap in gaps:
        if gap <= debounce_s:
            continue
        calls += 1
        latency = draw.choice(sample) if sample else math.exp(draw.gauss(mu, sigma))
        if debounce_s + latency < gap:
            shown += 1
            useful += latency
            waits.append(debounce_s + latency)
        else:
            cancelled += 1
            wasted += min(latency, gap - debounce_s + DRAIN_S)
    waits.sort()
    return {"calls": calls, "shown": shown, "cancelled": cancelled, "wasted_s": wasted,
            "useful_s": useful, "wait_p50_s": waits[len(waits) // 2] if waits else math.nan}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--debounce-ms", type=float, default=150.0,
                        help="the debounce the recorded suggestions waited (lsp.debounce_ms)")
    parser.add_argument("--p50", type=float, default=0.40)
    parser.add_argument("--p95", type=float, default=1.77)
    parser.add_argument("--min-samples", type=int, default=30)
    parser.add_argument("--store", type=Path, default=None)
    args = parser.parse_args()
    session = json.loads(SESSION.read_text())
    times = [e["t"] for e in session["events"]]
    gaps = [b - a for a, b in itertools.pairwise(times)] + [10.0]
    store = args.store or stats.store_path()
    sample = model_latencies(store, args.debounce_ms)
    mu, sigma = math.log(args.p50), math.log(args.p95 / args.p50) / 1.645
    if len(sample) >= args.min_samples:
        print(f"model latencies: {len(sample)} suggestions the model made, from {store}")
    else:
        print(f"model latencies: log-normal, p50 {args.p50:.2f} s, p95 {args.p95:.2f} s "
              f"({len(sample)} recorded in {store}, fewer than {args.min_samples})")
        sample = []
    print(f"session: {len(times)} keystrokes over {times[-1] - times[0]:.0f} s")
    print(f"{'debounce':>9} {'calls':>6} {'shown':>6} {'cancelled':>9} {'wasted s':>9} "
          f"{'useful s':>9} {'wait p50':>9}")
    for ms in CANDIDATES_MS:
        # Ten seeded repetitions per debounce, summed, so the draws do not decide the ranking.
        total: dict[str, float] = {}
        waits = []
        for seed in range(10):
            one = simulate(gaps, ms / 1000.0, random.Random(seed), sample, mu, sigma)
            waits.append(one.pop("wait_p50_s"))
            for key, value in one.items():
                total[key] = total.get(key, 0.0) + value / 10
        wait = sorted(w for w in waits if not math.isnan(w))
        print(f"{ms:>7} ms {total['calls']:>6.0f} {total['shown']:>6.0f} "
              f"{total['cancelled']:>9.0f} {total['wasted_s']:>9.1f} {total['useful_s']:>9.1f} "
              f"{wait[len(wait) // 2] if wait else math.nan:>8.2f}s")


if __name__ == "__main__":
    main()
