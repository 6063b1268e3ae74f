"""The kept libraries behind the backends: httpx-sse for event streams, prometheus_client for
/metrics, cachetools for the tokenize LRU. What changed with the swap is tested here."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from codeslm.backends.httpclient import sse_data
from codeslm.backends.prometheus import Metrics, parse
from codeslm.errors import BackendProtocolError, BackendUnavailable

SSE = {"content-type": "text/event-stream; charset=utf-8"}


def _collect(response: httpx.Response) -> list[str]:
    async def run() -> list[str]:
        return [data async for data in sse_data(response, "http://test")]

    return asyncio.run(run())


def test_events_split_across_chunks_and_crlf_lines_parse() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for piece in (b'data: {"t":', b' "a"}\r', b"\n\r\ndata:", b' {"t": "b"}\n', b"\n"):
            yield piece

    response = httpx.Response(200, headers=SSE, content=chunks())
    assert _collect(response) == ['{"t": "a"}', '{"t": "b"}']


def test_keepalive_events_without_data_are_skipped() -> None:
    # After an id:, a blank line dispatches an event with empty data (the SSE spec); a server
    # pinging that way must not look like an empty payload to the backend.
    body = b"id: 7\ndata: one\n\n\n\n: comment\n\nevent: ping\n\ndata: two\n\n"
    assert _collect(httpx.Response(200, headers=SSE, content=body)) == ["one", "two"]


def test_a_body_that_is_not_an_event_stream_is_a_protocol_error() -> None:
    response = httpx.Response(200, headers={"content-type": "application/json"},
                              content=b'{"choices": []}')
    with pytest.raises(BackendProtocolError, match="application/json"):
        _collect(response)


def test_a_connection_dropped_mid_stream_is_unavailable() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"data: one\n\n"
        raise httpx.RemoteProtocolError("peer closed connection")

    response = httpx.Response(200, headers=SSE, content=chunks())
    with pytest.raises(BackendUnavailable, match="closed the connection mid-stream"):
        _collect(response)


PAGE = """# HELP vllm:prefix_cache_hits_total Hits.
# TYPE vllm:prefix_cache_hits_total counter
vllm:prefix_cache_hits_total{engine="0",model_name="q"} 30.0
vllm:prefix_cache_hits_total{engine="1",model_name="q"} 10.0
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.1"} 2.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.5"} 8.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf"} 10.0
vllm:time_to_first_token_seconds_count{engine="0"} 10.0
vllm:time_to_first_token_seconds_sum{engine="0"} 2.5
label_escapes{path="a\\\\b \\"q\\""} 1
"""


def test_metrics_page_sums_series_and_estimates_quantiles() -> None:
    m = Metrics(PAGE)
    assert m.total("vllm:prefix_cache_hits_total") == 40.0
    assert m.total("vllm:time_to_first_token_seconds_count") == 10.0
    # rank 5 of 10 lies 3/6 of the way into the (0.1, 0.5] bucket: 0.1 + 0.4 * 0.5
    assert m.quantile("vllm:time_to_first_token_seconds", 0.5) == pytest.approx(0.3)
    (escaped,) = [s for s in parse(PAGE) if s.name == "label_escapes"]
    assert escaped.labels == {"path": 'a\\b "q"'}


def test_one_malformed_line_costs_only_that_sample() -> None:
    page = PAGE + "broken{le=\n" + "llamacpp:tokens_predicted_total 42\n"
    m = Metrics(page)
    assert m.total("llamacpp:tokens_predicted_total") == 42.0
    assert m.total("vllm:prefix_cache_hits_total") == 40.0
