"""A llama.cpp model in this process: importing llama-cpp-python, loading a GGUF file into a
:class:`Llama` whose prompt evaluation can be cancelled, and the helpers that read a loaded
model (tokens, chat template). Used by :mod:`.llamacpp`; nothing here starts a thread."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from pathlib import Path
from typing import Any

from ..config import Config
from ..errors import BackendUnavailable, ConfigError, ContextTooLong, ModelCorrupt
from ..types import GenerationRequest, ModelInfo
from . import kvreuse
from .kvheads import HeadStore, model_key

log = logging.getLogger(__name__)

# ChatML: what most small instruct models without a chat template expect.
CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>"
    "assistant\n{% endif %}"
)


class Cancelled(Exception):
    """Raised inside the worker thread when the consumer went away."""


def import_llama() -> Any:
    """The ``llama_cpp`` module; BackendUnavailable with the fix when it is not importable."""
    try:
        import llama_cpp
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise BackendUnavailable(
            f"the embedded backend needs llama-cpp-python, which is not importable ({exc})",
            hint="install it for this CPU with: codeslm setup (or use --backend with --url)",
        ) from None
    return llama_cpp


def kv_insertion(config: Config) -> bool:
    """Whether ``completion.kv_reuse`` asks for KV insertion (``"insert"``) rather than plain
    prefix reuse (``"prefix"``); ConfigError for anything else."""
    if config.completion.kv_reuse not in ("insert", "prefix"):
        raise ConfigError(
            f"completion.kv_reuse is {config.completion.kv_reuse!r}",
            hint='use "insert" or "prefix"',
        )
    return config.completion.kv_reuse == "insert"


def make_llama_class(llama_cpp: Any, cancel_chunk: int) -> type:
    class CancellableLlama(llama_cpp.Llama):  # type: ignore[misc, name-defined]
        """Llama whose prompt evaluation stops between batches when ``cancel_flag`` is set."""

        cancel_flag: threading.Event | None = None

        def eval(self, tokens: Any) -> None:
            step = cancel_chunk
            for start in range(0, len(tokens), step):
                flag = self.cancel_flag
                if flag is not None and flag.is_set():
                    raise Cancelled
                super().eval(tokens[start : start + step])

    return CancellableLlama


def load(config: Config, path: Path, *, threads: int, cancel_chunk: int) -> tuple[Any, float]:
    """Load ``path`` with ``config``'s settings; the model and the seconds it took.

    ModelCorrupt when llama.cpp refuses the file. With ``completion.kv_reuse = "insert"`` the
    context is rebuilt to hold a parked KV tail (:mod:`.kvreuse`).
    """
    llama_cpp = import_llama()
    kwargs: dict[str, Any] = {
        "model_path": str(path),
        "n_ctx": config.n_ctx,
        "n_threads": threads,
        "n_threads_batch": threads,
        "n_batch": config.n_batch,
        "n_gpu_layers": 0,
        "use_mmap": config.use_mmap,
        "verbose": False,
    }
    # codeslm tune (issue 17): the repository's LoRA adapter, as completion.adapter selects.
    from ..tune.store import resolve_setting

    if (lora := resolve_setting(config.completion.adapter, path)) is not None:
        kwargs["lora_path"] = str(lora)
        log.info("applying the LoRA adapter %s", lora)
    if config.completion.speculative == "ngram":
        from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

        kwargs["draft_model"] = LlamaPromptLookupDecoding(num_pred_tokens=2)
        # A draft model makes llama-cpp-python keep logits for every position, but it
        # sizes that buffer from logits_all: without it any prompt longer than n_batch
        # fails ("could not broadcast ... into shape (0,)"). Costs n_ctx x vocab floats.
        kwargs["logits_all"] = True
    started = time.perf_counter()
    try:
        llm = make_llama_class(llama_cpp, cancel_chunk)(**kwargs)
    except (ValueError, RuntimeError, OSError) as exc:
        raise ModelCorrupt(
            f"llama.cpp cannot load {path} ({exc})",
            hint="the file may be truncated or not a supported GGUF model; fetch it again",
        ) from None
    if config.completion.kv_reuse == "insert" and "draft_model" not in kwargs:
        reopen_context_for_insertion(llm)
    return llm, time.perf_counter() - started


def reopen_context_for_insertion(llm: Any) -> None:
    """Replace ``llm``'s context by one that can park a KV tail (two sequences, unified).

    llama-cpp-python builds its context inside ``Llama.__init__`` with no way to pass these
    two parameters, so the fresh context is swapped in before any use (a few milliseconds; the
    old KV buffer is freed first).
    """
    from llama_cpp import _internals

    params = llm.context_params
    kvreuse.context_params(params)
    llm._ctx.close()
    llm._ctx = _internals.LlamaContext(model=llm._model, params=params, verbose=llm.verbose)
    # llama.cpp attaches a LoRA adapter to a context, not to the model: the one Llama.__init__
    # attached went away with the old context (codeslm tune's adapters were silently unused).
    adapter = getattr(llm, "_lora_adapter", None)
    if adapter is not None:
        import ctypes

        import llama_cpp

        adapters = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(adapter)
        scales = (ctypes.c_float * 1)(llm.lora_scale)
        if llama_cpp.llama_set_adapters_lora(llm._ctx.ctx, adapters, 1, scales):
            raise RuntimeError(f"llama.cpp could not apply the LoRA adapter {llm.lora_path}")


def tokenize(llm: Any, text: str) -> list[int]:
    """Token ids of ``text``: no BOS, special tokens parsed (FIM sentinels are one token)."""
    if not text:
        return []
    return list(llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))


def chat_formatter(llm: Any) -> Any:
    """A formatter for the model's chat template (ChatML when the GGUF has none)."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = (llm.metadata or {}).get("tokenizer.chat_template") or CHATML
    eos = llm.detokenize([llm.token_eos()], special=True).decode("utf-8", "replace")
    bos_id = llm.token_bos()
    bos = llm.detokenize([bos_id], special=True).decode("utf-8", "replace") if bos_id >= 0 else ""
    return Jinja2ChatFormatter(
        template=template,
        eos_token=eos,
        bos_token=bos,
        add_generation_prompt=True,
        stop_token_ids=[llm.token_eos()],
    )


def chat_tokens(
    llm: Any, formatter: Any, request: GenerationRequest
) -> tuple[list[int], list[str]]:
    """Token ids of a chat request's messages through ``formatter``, plus the template's stop
    strings."""
    messages = [{"role": m.role, "content": m.content} for m in request.messages]
    formatted = formatter(messages=messages)
    stops = (
        formatted.stop
        if isinstance(formatted.stop, list)
        else ([formatted.stop] if formatted.stop else [])
    )
    return tokenize(llm, formatted.prompt), [str(s) for s in stops]


def chat_head(llm: Any, formatter: Any, request: GenerationRequest, tokens: list[int]) -> int:
    """How many leading ``tokens`` of a chat request hold its messages before the last one
    (the head that ``keep_head`` says recurs); 0 for a request with fewer than two."""
    if formatter is None or len(request.messages) < 2:
        return 0
    earlier = dataclasses.replace(request, messages=request.messages[:-1])
    head, _ = chat_tokens(llm, formatter, earlier)
    return kvreuse.common_prefix(head, tokens)


def head_store(config: Config, llm: Any) -> HeadStore | None:
    """Where ``llm``'s chat heads are kept on disk (None when ``kv_head_files`` is 0)."""
    if config.kv_head_files <= 0:
        return None
    from ..paths import kv_dir

    version = str(getattr(import_llama(), "__version__", "?"))
    key = model_key(str(llm.model_path), getattr(llm, "lora_path", None), version)
    return HeadStore(kv_dir(), key, limit=config.kv_head_files)


def room_for(llm: Any, tokens: list[int], max_tokens: int) -> int:
    """How many tokens may follow the prompt ``tokens``: ``max_tokens`` or what the context
    leaves; ContextTooLong when the prompt alone fills it."""
    n_ctx = int(llm.n_ctx())
    if len(tokens) >= n_ctx - 1:
        raise ContextTooLong(
            f"the prompt is {len(tokens)} tokens, the context window is {n_ctx}",
            hint="shorten the input or raise n_ctx in the config",
        )
    return min(max_tokens, n_ctx - len(tokens) - 1)


def model_info(llm: Any, name: str) -> ModelInfo:
    """What a loaded model says about itself: context sizes, path and its GGUF metadata (long
    values and the tokenizer's tables left out)."""
    meta = {
        str(k): str(v)
        for k, v in (llm.metadata or {}).items()
        if not str(k).startswith("tokenizer.ggml.") and len(str(v)) < 200
    }
    train = meta.get(f"{meta.get('general.architecture', '')}.context_length")
    return ModelInfo(
        name=name,
        context_length=int(llm.n_ctx()),
        path=str(llm.model_path),
        train_context_length=int(train) if train and train.isdigit() else None,
        metadata=meta,
    )


def cpu_features(llama_cpp: Any) -> list[str]:
    """The CPU features this llama.cpp build was compiled for (``AVX2``, ``AMX_INT8``...)."""
    info = llama_cpp.llama_print_system_info().decode(errors="replace")
    return [
        part.split("=")[0].split(":")[-1].strip()
        for part in info.split("|")
        if part.strip().endswith("= 1")
    ]
