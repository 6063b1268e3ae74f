"""The llama.cpp ``llama-server`` flavour (``--backend llama-server``).

- Raw (FIM) prompts go to the native ``POST /completion`` with ``cache_prompt``: the answer's
  ``timings.cache_n`` says how much of the prompt came from the slot's KV cache, which the
  OpenAI route does not report. Chats use ``/v1/chat/completions``.
- ``POST /tokenize`` (special tokens parsed) gives exact counts and FIM detection.
- ``POST /infill`` is used where it is trustworthy: the FIM self-test of ``codeslm doctor``
  checks that the server itself can fill a hole (its ``Infill is not supported by this model``
  error is a clear verdict). Completions keep codeslm's own prompt layout because ``/infill``
  hard-codes the repository name ``myproject`` and the current file name ``filename`` and
  re-trims prefix and suffix to fractions of ``n_batch`` (``tools/server/server-common.cpp``),
  which would discard the context builder's layout and the real paths.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, cast

import httpx

from ..errors import BackendProtocolError, CodeslmError
from ..types import Chunk, GenerationRequest, Usage
from .httpclient import parse_event, sse_data, stream_error
from .openai_compat import LLAMA_SERVER, OpenAICompatBackend
from .openai_stream import StreamProgress
from .prometheus import Metrics
from .stops import StopMatcher


class LlamaServerBackend(OpenAICompatBackend):
    """llama.cpp's server; see the module docstring."""

    name = "llama-server"
    server_kind = LLAMA_SERVER

    def native_body(self, request: GenerationRequest) -> dict[str, Any]:
        """The ``/completion`` body for a raw-prompt request."""
        greedy = request.temperature <= 0
        body: dict[str, Any] = {
            "prompt": request.prompt,
            "n_predict": request.max_tokens,
            "temperature": request.temperature,
            "top_p": 1.0 if greedy else request.top_p,
            "top_k": 1 if greedy else 40,
            "min_p": 0.0,
            "repeat_penalty": 1.0,
            "cache_prompt": True,
            "stream": True,
        }
        if request.stop:
            body["stop"] = list(request.stop)
        if request.seed is not None:
            body["seed"] = request.seed
        return body

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        if request.prompt is None:
            chat = cast(AsyncGenerator[Chunk, None], super().stream(request))
            async with contextlib.aclosing(chat) as inner:
                async for chunk in inner:
                    yield chunk
            return
        await self.served_model()  # fail early and clearly when the server is not there
        progress = StreamProgress()
        stops = StopMatcher(request.stop)
        final: dict[str, Any] = {}
        session = request.session or request.cache_key
        body = self.native_body(request)
        async with self.http.stream("POST", "/completion", body, session_key=session) as (
            endpoint,
            response,
        ):
            async for chunk in _native_events(response, endpoint.url, progress, stops, final):
                yield chunk
            if not final and not stops.hit:
                if progress.events == 0:
                    await self._diagnose_empty_stream("/completion", body, endpoint)
                raise BackendProtocolError(
                    f"{endpoint.url} ended the stream before the generation finished",
                    hint="the server may have crashed; check its log",
                )
        tail = stops.flush()
        if tail:
            progress.saw_text()
            yield Chunk(tail)
        yield _native_final_chunk(progress, final)

    async def server_infill(self, prefix: str, suffix: str, *, max_tokens: int = 12) -> str:
        """Fill a hole with the server's own ``/infill`` (its FIM tokens, its layout)."""
        _, data = await self.http.request_json(
            "POST",
            "/infill",
            {
                "input_prefix": prefix,
                "input_suffix": suffix,
                "n_predict": max_tokens,
                "temperature": 0.0,
                "top_k": 1,
                "stop": ["\n"],
                "stream": False,
            },
        )
        content = data.get("content") if isinstance(data, dict) else None
        if not isinstance(content, str):
            raise BackendProtocolError("/infill answered without content")
        return content

    async def diagnostics(self) -> dict[str, str]:
        out = await super().diagnostics()
        try:
            text = await self.server_infill(
                "def add(a, b):\n    return ", "\n\n\nprint(add(2, 3))\n"
            )
            out["server /infill"] = f"ok: `return {text.strip()[:40]}`"
        except CodeslmError as exc:
            out["server /infill"] = f"unavailable: {exc}"
        endpoint = self.http.pool.ranked(None)[0]
        try:
            status, page = await self.http.get_text(endpoint, "/metrics")
        except CodeslmError:
            status, page = 0, ""
        if status == 200:
            m = Metrics(page)
            prompt = m.total("llamacpp:prompt_tokens_total")
            predicted = m.total("llamacpp:tokens_predicted_total")
            if prompt is not None and predicted is not None:
                out["metrics"] = (
                    f"{prompt:,.0f} prompt tokens evaluated, {predicted:,.0f} generated since start"
                )
        else:
            out["metrics"] = "off (start llama-server with --metrics to see token counts)"
        return out


async def _native_events(
    response: httpx.Response,
    url: str,
    progress: StreamProgress,
    stops: StopMatcher,
    final: dict[str, Any],
) -> AsyncGenerator[Chunk, None]:
    """The text of ``/completion``'s events until the last one (copied into ``final``) or a
    stop string."""
    async for payload in sse_data(response, url):
        if payload.strip() == "[DONE]":
            return
        event = parse_event(payload, url)
        progress.events += 1
        error = stream_error(event, url)
        if error is not None:
            raise error
        text = event.get("content")
        out = stops.feed(text if isinstance(text, str) else "")
        if out:
            progress.saw_text()
            yield Chunk(out)
        if event.get("stop") is True:
            final.update(event)
            return
        if stops.hit:
            return


def _native_final_chunk(progress: StreamProgress, final: dict[str, Any]) -> Chunk:
    """The last chunk: finish reason and usage from the final event's ``timings``."""
    timings = final.get("timings") or {}
    cache_n = timings.get("cache_n")
    prompt_n = timings.get("prompt_n")
    prompt_tokens = None
    if isinstance(prompt_n, int):
        prompt_tokens = prompt_n + (cache_n if isinstance(cache_n, int) else 0)
    return Chunk(
        "",
        "length" if final.get("stop_type") == "limit" else "stop",
        Usage(
            prompt_tokens=prompt_tokens,
            completion_tokens=timings.get("predicted_n"),
            cached_prompt_tokens=cache_n if isinstance(cache_n, int) else None,
            time_to_first_token_s=progress.first,
            total_s=time.perf_counter() - progress.started,
        ),
    )
