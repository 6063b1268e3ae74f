"""The embedded backend: llama-cpp-python in this process, on the CPU.

One model, one worker thread: requests run one at a time in arrival order. Cancellation is
cooperative and prompt: the worker checks a flag between prompt batches (``n_batch`` tokens,
a fraction of a second) and after every generated token. A request whose ``cache_key`` matches
a newer request's is superseded (cancelled) as soon as the newer one arrives.

llama.cpp keeps the KV cache of the previous prompt, so a prompt that shares a long prefix with
the previous one only pays for its new tail; prompt layouts should keep stable text first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..config import Config, effective_threads
from ..errors import (
    BackendError,
    BackendUnavailable,
    CodeslmError,
    ContextTooLong,
    ModelCorrupt,
)
from ..types import BackendHealth, Chunk, GenerationRequest, HealthStatus, ModelInfo, Usage
from .base import Backend

log = logging.getLogger(__name__)

_DONE = object()


class _Cancelled(Exception):
    """Raised inside the worker thread when the consumer went away."""


def _import_llama() -> Any:
    try:
        import llama_cpp
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise BackendUnavailable(
            f"the embedded backend needs llama-cpp-python, which is not importable ({exc})",
            hint="install it (python -m codeslm.bootstrap install) or use --backend with --url",
        ) from None
    return llama_cpp


def _make_llama_class(llama_cpp: Any) -> type:
    class CancellableLlama(llama_cpp.Llama):  # type: ignore[misc, name-defined]
        """Llama whose prompt evaluation stops between batches when ``cancel_flag`` is set."""

        cancel_flag: threading.Event | None = None

        def eval(self, tokens: Any) -> None:
            step = self.n_batch
            for start in range(0, len(tokens), step):
                flag = self.cancel_flag
                if flag is not None and flag.is_set():
                    raise _Cancelled
                super().eval(tokens[start : start + step])

    return CancellableLlama


class LlamaCppBackend(Backend):
    """In-process llama.cpp. The model loads lazily on first use (in the worker thread)."""

    name = "llama-cpp"

    def __init__(self, config: Config, *, model_path: Path | None = None) -> None:
        self._config = config
        self._model_path = model_path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="codeslm-llama")
        self._load_lock = threading.Lock()
        self._llm: Any = None
        self._load_error: CodeslmError | None = None
        self._model_name: str | None = None
        self._active: dict[str, threading.Event] = {}
        self._chat_formatter: Any = None
        self.load_seconds: float | None = None

    # -- loading -------------------------------------------------------------------------

    def _resolve_path(self) -> Path:
        if self._model_path is not None:
            return self._model_path
        from ..models.resolve import resolve

        resolved = resolve(self._config.model)
        self._model_name = resolved.name
        return resolved.path

    def _ensure_loaded(self) -> Any:
        if self._llm is not None:
            return self._llm
        with self._load_lock:
            if self._llm is not None:
                return self._llm
            if self._load_error is not None:
                raise self._load_error
            try:
                self._llm = self._load()
            except CodeslmError as exc:
                self._load_error = exc
                raise
            return self._llm

    def _load(self) -> Any:
        llama_cpp = _import_llama()
        path = self._resolve_path()
        if self._model_name is None:
            self._model_name = path.stem
        threads = effective_threads(self._config)
        kwargs: dict[str, Any] = {
            "model_path": str(path),
            "n_ctx": self._config.n_ctx,
            "n_threads": threads,
            "n_threads_batch": threads,
            "n_batch": self._config.n_batch,
            "n_gpu_layers": 0,
            "verbose": False,
        }
        if self._config.completion.speculative == "ngram":
            from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

            kwargs["draft_model"] = LlamaPromptLookupDecoding(num_pred_tokens=2)
        started = time.perf_counter()
        try:
            llm = _make_llama_class(llama_cpp)(**kwargs)
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelCorrupt(
                f"llama.cpp cannot load {path} ({exc})",
                hint="the file may be truncated or not a supported GGUF model; fetch it again",
            ) from None
        self.load_seconds = time.perf_counter() - started
        log.info("loaded %s in %.2fs (%d threads, n_ctx=%d)", path, self.load_seconds, threads,
                 self._config.n_ctx)
        return llm

    # -- interface -------------------------------------------------------------------------

    async def health(self) -> BackendHealth:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, self._ensure_loaded)
        except CodeslmError as exc:
            return BackendHealth(HealthStatus.ERROR, str(exc), self._model_name)
        return BackendHealth(HealthStatus.READY, "model loaded", self._model_name)

    async def tokenize(self, text: str) -> list[int]:
        loop = asyncio.get_running_loop()
        llm = await loop.run_in_executor(None, self._ensure_loaded)
        return self._tokenize(llm, text)

    def tokenize_sync(self, text: str) -> list[int]:
        """Tokenize without the event loop (loads the model if needed)."""
        return self._tokenize(self._ensure_loaded(), text)

    def count_tokens_sync(self, text: str) -> int | None:
        return len(self.tokenize_sync(text))

    @staticmethod
    def _tokenize(llm: Any, text: str) -> list[int]:
        if not text:
            return []
        return list(llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    async def model_info(self) -> ModelInfo:
        loop = asyncio.get_running_loop()
        llm = await loop.run_in_executor(None, self._ensure_loaded)
        meta = {str(k): str(v) for k, v in (llm.metadata or {}).items()
                if not str(k).startswith("tokenizer.ggml.") and len(str(v)) < 200}
        train = meta.get(f"{meta.get('general.architecture', '')}.context_length")
        return ModelInfo(
            name=self._model_name or "unknown",
            context_length=int(llm.n_ctx()),
            path=str(llm.model_path),
            train_context_length=int(train) if train and train.isdigit() else None,
            metadata=meta,
        )

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        cancel = threading.Event()
        if request.cache_key is not None:
            previous = self._active.get(request.cache_key)
            if previous is not None:
                previous.set()
            self._active[request.cache_key] = cancel

        def put(item: Any) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed under us
                loop.call_soon_threadsafe(queue.put_nowait, item)

        self._executor.submit(self._run, request, cancel, put)
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            cancel.set()
            if request.cache_key is not None and self._active.get(request.cache_key) is cancel:
                del self._active[request.cache_key]

    async def aclose(self) -> None:
        for event in list(self._active.values()):
            event.set()
        self._executor.shutdown(wait=True, cancel_futures=True)
        llm, self._llm = self._llm, None
        if llm is not None:
            with contextlib.suppress(Exception):
                llm.close()

    # -- worker thread ---------------------------------------------------------------------

    def _run(self, request: GenerationRequest, cancel: threading.Event,
             put: Callable[[Any], None]) -> None:
        started = time.perf_counter()
        if cancel.is_set():
            put(Chunk("", "cancelled", Usage(total_s=0.0)))
            put(_DONE)
            return
        try:
            llm = self._ensure_loaded()
            self._generate(llm, request, cancel, put, started)
        except _Cancelled:
            put(Chunk("", "cancelled", Usage(total_s=time.perf_counter() - started)))
        except CodeslmError as exc:
            put(exc)
        except Exception as exc:  # llama.cpp errors surface as RuntimeError/ValueError
            log.exception("llama.cpp generation failed")
            put(BackendError(f"llama.cpp failed: {exc}"))
        finally:
            llm = self._llm
            if llm is not None:
                llm.cancel_flag = None
            put(_DONE)

    def _prompt_tokens(self, llm: Any, request: GenerationRequest) -> tuple[list[int], list[str]]:
        """Token ids of the request's prompt, plus extra stop strings from the chat format."""
        if request.prompt is not None:
            return self._tokenize(llm, request.prompt), []
        formatter = self._get_chat_formatter(llm)
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        formatted = formatter(messages=messages)
        stops = formatted.stop if isinstance(formatted.stop, list) else (
            [formatted.stop] if formatted.stop else [])
        return self._tokenize(llm, formatted.prompt), [str(s) for s in stops]

    def _get_chat_formatter(self, llm: Any) -> Any:
        if self._chat_formatter is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            template = (llm.metadata or {}).get("tokenizer.chat_template")
            if not template:
                # ChatML: what most small instruct models without a template expect.
                template = (
                    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}"
                    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>"
                    "assistant\n{% endif %}"
                )
            eos = llm.detokenize([llm.token_eos()], special=True).decode("utf-8", "replace")
            bos_id = llm.token_bos()
            bos = llm.detokenize([bos_id], special=True).decode("utf-8", "replace") if (
                bos_id >= 0) else ""
            self._chat_formatter = Jinja2ChatFormatter(
                template=template, eos_token=eos, bos_token=bos, add_generation_prompt=True,
                stop_token_ids=[llm.token_eos()],
            )
        return self._chat_formatter

    def _generate(self, llm: Any, request: GenerationRequest, cancel: threading.Event,
                  put: Callable[[Any], None], started: float) -> None:
        import codecs

        import llama_cpp

        tokens, extra_stops = self._prompt_tokens(llm, request)
        n_ctx = int(llm.n_ctx())
        if len(tokens) >= n_ctx - 1:
            raise ContextTooLong(
                f"the prompt is {len(tokens)} tokens, the context window is {n_ctx}",
                hint="shorten the input or raise n_ctx in the config",
            )
        max_tokens = min(request.max_tokens, n_ctx - len(tokens) - 1)
        cached = _common_prefix(llm.input_ids[: llm.n_tokens].tolist(), tokens)
        stop_ids = set(request.stop_token_ids)
        stops = _StopMatcher(list(request.stop) + extra_stops)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        vocab = llm._model.vocab
        if request.seed is not None:
            llm.set_seed(request.seed)
        greedy = request.temperature <= 0
        llm.cancel_flag = cancel
        generated = 0
        first: float | None = None
        finish = "length"
        for token in llm.generate(
            tokens,
            temp=request.temperature,
            top_k=1 if greedy else 40,
            top_p=1.0 if greedy else request.top_p,
            min_p=0.0,
            repeat_penalty=1.0,
        ):
            if cancel.is_set():
                raise _Cancelled
            if token in stop_ids or llama_cpp.llama_vocab_is_eog(vocab, token):
                finish = "stop"
                break
            generated += 1
            text, hit = stops.feed(decoder.decode(llm.detokenize([token])))
            if text:
                if first is None:
                    first = time.perf_counter() - started
                put(Chunk(text))
            if hit:
                finish = "stop"
                break
            if generated >= max_tokens:
                break
        else:
            finish = "stop"
        if finish == "length" or not stops.stopped:
            tail = stops.flush(decoder.decode(b"", final=True))
            if tail:
                put(Chunk(tail))
        put(
            Chunk(
                "",
                finish,
                Usage(
                    prompt_tokens=len(tokens),
                    completion_tokens=generated,
                    cached_prompt_tokens=cached,
                    time_to_first_token_s=first,
                    total_s=time.perf_counter() - started,
                ),
            )
        )


class _StopMatcher:
    """Incremental stop-string matching: holds back text that may be the start of a stop."""

    def __init__(self, stops: list[str]) -> None:
        self._stops = [s for s in dict.fromkeys(stops) if s]
        self._held = ""
        self.stopped = False

    def feed(self, text: str) -> tuple[str, bool]:
        """Return (text safe to emit, whether a stop string was hit)."""
        buf = self._held + text
        cut = min((i for s in self._stops if (i := buf.find(s)) >= 0), default=-1)
        if cut >= 0:
            self._held = ""
            self.stopped = True
            return buf[:cut], True
        keep = 0
        for stop in self._stops:
            for k in range(min(len(stop) - 1, len(buf)), 0, -1):
                if buf.endswith(stop[:k]):
                    keep = max(keep, k)
                    break
        self._held = buf[len(buf) - keep:] if keep else ""
        return buf[: len(buf) - keep], False

    def flush(self, text: str = "") -> str:
        out, self._held = self._held + text, ""
        return out


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
