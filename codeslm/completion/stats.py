"""The one set of completion counters of a session: requests, model calls, caches, cancellations.

A :class:`CompletionStats` is made by the composition root (:func:`codeslm.session.open_session`)
and shared by everything that completes in that session: the engine counts its calls, cache hits,
retries and tokens; the scheduler (:mod:`codeslm.completion.scheduler`) counts requests, what it
debounced, superseded or cancelled and the CPU time that went into them. The language server's
``codeslm/stats`` request returns :meth:`CompletionStats.as_dict`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

LATENCIES_KEPT = 1000  # the latency lists keep the most recent values only


class Ledger(Protocol):
    """The CPU split the scheduler keeps (:class:`~codeslm.completion.scheduler.CpuLedger`)."""

    drain: float
    unattributed: float


@dataclass
class CompletionStats:
    """Counters of one session (all start at zero; nothing here is persisted)."""

    # -- requests as the scheduler saw them (the language server's completion requests) ----
    requests: int = 0
    automatic: int = 0
    invoked: int = 0
    debounced: int = 0  # superseded or cancelled while waiting: no model work
    cancelled: int = 0  # superseded or cancelled during the model call
    client_cancelled: int = 0  # of the two above, cancelled by $/cancelRequest
    superseded: int = 0  # of the two above, replaced by a newer request for the document
    served: int = 0  # answered with at least one item
    empty: int = 0  # answered with nothing (model said nothing, refused, bad input)
    cache_hits: int = 0  # served without a model call (typed-ahead / LRU cache of the engine)
    errors: int = 0
    cpu_cancelled_s: float = 0.0  # during cancelled calls (their drain is in the ledger)
    cpu_served_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)  # answered requests, arrival->answer
    # -- the engine's work (every complete() call, candidates and evaluations included) -----
    engine_calls: int = 0
    model_calls: int = 0
    typed_ahead_hits: int = 0
    prompt_cache_hits: int = 0
    retries: int = 0
    retry_successes: int = 0
    stopped_early: int = 0
    deadline_stops: int = 0
    warmups: int = 0  # background prompt evaluations the backend finished
    follow_ups: int = 0  # answers completed ahead where a suggestion being typed leads
    follow_up_hits: int = 0  # requests answered by one, at the place it was made for
    shown_early: int = 0  # suggestions answered while their generation went on
    finished_late: int = 0  # of those, generations finished in the background and remembered
    prompt_tokens: int = 0  # of model calls, and of those how many the backend had cached
    cached_prompt_tokens: int = 0
    engine_latencies_s: list[float] = field(default_factory=list)  # model-served calls

    def record_latency_ms(self, value: float) -> None:
        """An answered request's latency (arrival to answer); every one is kept, so the
        percentiles cover the whole session."""
        self.latencies_ms.append(value)

    def record_engine_latency_s(self, value: float) -> None:
        """A model-served engine call's latency (the last :data:`LATENCIES_KEPT` are kept)."""
        self.engine_latencies_s.append(value)
        del self.engine_latencies_s[:-LATENCIES_KEPT]

    def as_dict(self, ledger: Ledger | None = None) -> dict[str, Any]:
        """The counters as JSON values, with latency percentiles instead of the lists."""
        lists = ("latencies_ms", "engine_latencies_s")
        out = {k: v for k, v in self.__dict__.items() if k not in lists}
        out["cpu_cancelled_s"] = round(self.cpu_cancelled_s, 3)
        out["cpu_served_s"] = round(self.cpu_served_s, 3)
        if ledger is not None:
            out["cpu_cancelled_drain_s"] = round(ledger.drain, 3)
            out["cpu_unattributed_s"] = round(ledger.unattributed, 3)
        out["process_cpu_s"] = round(time.process_time(), 3)
        lat = sorted(self.latencies_ms)
        out["latency_p50_ms"] = _percentile(lat, 0.5)
        out["latency_p95_ms"] = _percentile(lat, 0.95)
        return out


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    k = min(len(values) - 1, max(0, round(q * (len(values) - 1))))
    return round(values[k], 1)
