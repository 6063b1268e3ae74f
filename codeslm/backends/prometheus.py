"""A small reader for the Prometheus text format that vLLM and llama-server expose on /metrics.

Only what codeslm reports needs: counters and gauges summed over their label sets (one series
per engine or model), and quantiles estimated from histogram buckets.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass

_SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(\{[^}]*\})?\s+(\S+)")
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def parse(text: str) -> list[Sample]:
    """Every sample of a /metrics page; unparsable lines are skipped."""
    out: list[Sample] = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if not match:
            continue
        try:
            value = float(match.group(3))
        except ValueError:
            continue
        labels = dict(_LABEL.findall(match.group(2) or ""))
        out.append(Sample(match.group(1), labels, value))
    return out


class Metrics:
    """Samples of one scrape, indexed by name."""

    def __init__(self, text: str) -> None:
        self._by_name: dict[str, list[Sample]] = defaultdict(list)
        for sample in parse(text):
            self._by_name[sample.name].append(sample)

    def has(self, name: str) -> bool:
        return name in self._by_name

    def total(self, *names: str) -> float | None:
        """The sum over label sets of the first of ``names`` that is present."""
        for name in names:
            samples = self._by_name.get(name)
            if samples:
                return sum(s.value for s in samples if not math.isnan(s.value))
        return None

    def quantile(self, histogram: str, q: float) -> float | None:
        """Estimate quantile ``q`` of a histogram (linear inside the bucket, as PromQL does)."""
        buckets: dict[float, float] = defaultdict(float)
        for sample in self._by_name.get(f"{histogram}_bucket", []):
            le = sample.labels.get("le")
            if le is None:
                continue
            buckets[math.inf if le in {"+Inf", "Inf"} else float(le)] += sample.value
        if not buckets:
            return None
        bounds = sorted(buckets)
        total = buckets[bounds[-1]]
        if total <= 0:
            return None
        rank = q * total
        lower, below = 0.0, 0.0
        for bound in bounds:
            count = buckets[bound]
            if count >= rank:
                if math.isinf(bound):
                    return lower
                inside = count - below
                return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
            lower, below = bound, count
        return lower
