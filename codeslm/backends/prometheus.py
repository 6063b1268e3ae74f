"""Reading the Prometheus text format that vLLM and llama-server expose on /metrics.

Parsing is ``prometheus_client.parser``'s. What is ours: the sums over label sets (one series
per engine or model) and the quantile estimate from histogram buckets, which the client
library does not offer (it is PromQL's ``histogram_quantile``, done on the scraping side).
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def _samples(text: str) -> list[Sample]:
    return [
        Sample(s.name, dict(s.labels), float(s.value))
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def parse(text: str) -> list[Sample]:
    """Every sample of a /metrics page.

    The library rejects a whole page for one bad line; a page that fails is read again line by
    line so that one malformed sample (a server bug) costs only that sample.
    """
    try:
        return _samples(text)
    except ValueError as exc:
        log.info("a /metrics page did not parse as a whole (%s); reading it line by line", exc)
    out: list[Sample] = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        try:
            out.extend(_samples(line + "\n"))
        except ValueError:
            continue
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
