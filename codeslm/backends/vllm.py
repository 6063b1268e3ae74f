"""The vLLM flavour of the OpenAI-compatible backend (``--backend vllm``).

On top of :class:`OpenAICompatBackend` (which already sends vLLM's ``stop_token_ids``,
``repetition_penalty``/``top_k``/``min_p`` neutral values and reads ``max_model_len``):

- ``tokenize`` uses ``POST /tokenize`` only (exact budgets; results cached);
- ``diagnostics`` reads ``GET /metrics``: prefix-cache hit rate, time to first token, queue,
  and n-gram speculation acceptance, which ``codeslm doctor`` prints.

Counters are cumulative since the server started; :func:`metrics_summary` can subtract an
earlier scrape to describe one run (the benchmark does).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import CodeslmError
from .openai_compat import VLLM, OpenAICompatBackend
from .prometheus import Metrics

# vLLM renamed these over time; the first present name wins.
PREFIX_HITS = (
    "vllm:prefix_cache_hits_total",
    "vllm:gpu_prefix_cache_hits_total",
    "vllm:prefix_cache_hits",
)
PREFIX_QUERIES = (
    "vllm:prefix_cache_queries_total",
    "vllm:gpu_prefix_cache_queries_total",
    "vllm:prefix_cache_queries",
)
TTFT = "vllm:time_to_first_token_seconds"
SPEC_ACCEPTED = (
    "vllm:spec_decode_num_accepted_tokens_total",
    "vllm:spec_decode_num_accepted_tokens",
)
SPEC_DRAFTED = ("vllm:spec_decode_num_draft_tokens_total", "vllm:spec_decode_num_draft_tokens")


@dataclass(frozen=True, slots=True)
class VllmMetrics:
    """The numbers codeslm reports from one (or the difference of two) /metrics scrapes."""

    prefix_hits: float | None
    prefix_queries: float | None
    ttft_count: float | None
    ttft_sum: float | None
    ttft_p50: float | None
    ttft_p95: float | None
    running: float | None
    waiting: float | None
    spec_accepted: float | None
    spec_drafted: float | None

    @property
    def prefix_hit_rate(self) -> float | None:
        if self.prefix_hits is None or not self.prefix_queries:
            return None
        return self.prefix_hits / self.prefix_queries

    @property
    def ttft_mean(self) -> float | None:
        if not self.ttft_count or self.ttft_sum is None:
            return None
        return self.ttft_sum / self.ttft_count

    @property
    def spec_acceptance(self) -> float | None:
        if self.spec_accepted is None or not self.spec_drafted:
            return None
        return self.spec_accepted / self.spec_drafted


def metrics_summary(text: str, before: str | None = None) -> VllmMetrics:
    """Summarise a /metrics page; with ``before``, counters are the difference (gauges are not).

    Quantiles are for the whole life of the server (histograms are not subtracted).
    """
    now = Metrics(text)
    old = Metrics(before) if before is not None else None

    def counter(*names: str) -> float | None:
        value = now.total(*names)
        if value is None or old is None:
            return value
        return value - (old.total(*names) or 0.0)

    return VllmMetrics(
        prefix_hits=counter(*PREFIX_HITS),
        prefix_queries=counter(*PREFIX_QUERIES),
        ttft_count=counter(f"{TTFT}_count"),
        ttft_sum=counter(f"{TTFT}_sum"),
        ttft_p50=now.quantile(TTFT, 0.5),
        ttft_p95=now.quantile(TTFT, 0.95),
        running=now.total("vllm:num_requests_running"),
        waiting=now.total("vllm:num_requests_waiting"),
        spec_accepted=counter(*SPEC_ACCEPTED),
        spec_drafted=counter(*SPEC_DRAFTED),
    )


def describe(m: VllmMetrics) -> dict[str, str]:
    """Doctor lines for a summary."""
    out: dict[str, str] = {}
    rate = m.prefix_hit_rate
    if rate is not None:
        out["prefix cache"] = (
            f"hit rate {rate:.0%} ({m.prefix_hits:,.0f} of "
            f"{m.prefix_queries:,.0f} prompt tokens served from the cache)"
        )
    elif m.prefix_queries == 0:
        out["prefix cache"] = "no prompts yet"
    else:
        out["prefix cache"] = "not reported (prefix caching off, or an older vLLM)"
    if m.ttft_mean is not None:
        p = (
            f", p50 ~{m.ttft_p50 * 1000:.0f} ms, p95 ~{m.ttft_p95 * 1000:.0f} ms"
            if m.ttft_p50 is not None and m.ttft_p95 is not None
            else ""
        )
        out["first token"] = (
            f"mean {m.ttft_mean * 1000:.0f} ms over {m.ttft_count:,.0f} requests{p} (server side)"
        )
    if m.running is not None:
        out["requests"] = f"{m.running:.0f} running, {m.waiting or 0:.0f} waiting"
    if m.spec_acceptance is not None:
        out["speculation"] = f"n-gram draft acceptance {m.spec_acceptance:.0%}"
    return out


class VllmBackend(OpenAICompatBackend):
    """``vllm serve`` over HTTP; see the module docstring."""

    name = "vllm"
    server_kind = VLLM

    async def metrics_text(self) -> str:
        """The raw /metrics page of the endpoint that answers first."""
        last: CodeslmError | None = None
        for endpoint in self.http.pool.ranked(None):
            try:
                status, text = await self.http.get_text(endpoint, "/metrics")
            except CodeslmError as exc:
                last = exc
                continue
            if status == 200:
                return text
        if last is not None:
            raise last
        return ""

    async def metrics(self) -> VllmMetrics:
        return metrics_summary(await self.metrics_text())

    async def diagnostics(self) -> dict[str, str]:
        out = await super().diagnostics()
        try:
            out.update(describe(await self.metrics()))
        except CodeslmError as exc:
            out["metrics"] = f"unavailable: {exc}"
        return out
