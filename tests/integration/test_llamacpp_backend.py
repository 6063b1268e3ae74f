"""The embedded llama.cpp backend on the real default model."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from codeslm.backends.llamacpp import LlamaCppBackend
from codeslm.config import Config
from codeslm.errors import ContextTooLong, ModelCorrupt
from codeslm.types import ChatMessage, GenerationRequest, HealthStatus

pytestmark = pytest.mark.model

FIM = ("<|fim_prefix|>def is_palindrome(s):\n    return <|fim_suffix|>\n\n"
       "print(is_palindrome('level'))\n<|fim_middle|>")
LONG = ("<|fim_prefix|># A long list of the first thousand primes, one per line\n"
        "PRIMES = [\n    2,\n")


@pytest.fixture(scope="module")
def backend(model_path: Path) -> Iterator[LlamaCppBackend]:
    cfg = Config(model=str(model_path), n_ctx=2048)
    b = LlamaCppBackend(cfg, model_path=model_path)
    yield b
    asyncio.run(b.aclose())


async def test_fim_tokens_are_single_and_stream_completes(backend: LlamaCppBackend) -> None:
    assert await backend.tokenize("<|fim_prefix|>") == [151659]
    assert len(await backend.tokenize("<fim_prefix>")) > 1
    result = await backend.generate(GenerationRequest(prompt=FIM, max_tokens=24, stop=("\n",)))
    assert "s[::-1]" in result.text and "\n" not in result.text
    assert result.finish_reason == "stop"
    assert result.usage.prompt_tokens and result.usage.completion_tokens


async def test_repeated_prompt_reuses_the_kv_cache(backend: LlamaCppBackend) -> None:
    request = GenerationRequest(prompt=FIM, max_tokens=4)
    await backend.generate(request)
    again = await backend.generate(request)
    prompt_tokens = again.usage.prompt_tokens or 0
    assert (again.usage.cached_prompt_tokens or 0) >= prompt_tokens - 1


async def test_closing_the_stream_stops_generation(backend: LlamaCppBackend) -> None:
    stream = backend.stream(GenerationRequest(prompt=LONG, max_tokens=400))
    seen = 0
    async for _chunk in stream:
        seen += 1
        if seen == 3:
            break
    await stream.aclose()
    # The next request waits for the worker; it completes only after the first one stopped.
    await backend.generate(GenerationRequest(prompt=FIM, max_tokens=2))
    cancelled = [u for reason, u in backend.history if reason == "cancelled"]
    assert cancelled, "the abandoned request should end as cancelled"
    assert (cancelled[-1].completion_tokens or 0) < 60


async def test_newer_request_supersedes_older_with_same_key(backend: LlamaCppBackend) -> None:
    async def consume(prompt: str) -> str | None:
        finish = None
        async for chunk in backend.stream(GenerationRequest(prompt=prompt, max_tokens=300,
                                                            cache_key="doc.py")):
            finish = chunk.finish_reason or finish
        return finish

    first = asyncio.create_task(consume(LONG))
    await asyncio.sleep(0.5)
    second = asyncio.create_task(consume(FIM))
    assert await first == "cancelled"
    assert await second in {"stop", "length"}


async def test_chat_uses_the_models_template(backend: LlamaCppBackend) -> None:
    result = await backend.generate(GenerationRequest(
        messages=(ChatMessage("system", "You write Python. Reply with code only."),
                  ChatMessage("user", "Print the text hello.")),
        max_tokens=24))
    assert "print(" in result.text and "hello" in result.text.lower()
    assert "<|im_end|>" not in result.text and result.finish_reason == "stop"


async def test_prompt_longer_than_context_is_rejected(model_path: Path) -> None:
    small = LlamaCppBackend(Config(model=str(model_path), n_ctx=256), model_path=model_path)
    try:
        with pytest.raises(ContextTooLong, match="context window is 256"):
            await small.generate(GenerationRequest(prompt="x = 1\n" * 400, max_tokens=4))
    finally:
        await small.aclose()


async def test_broken_model_file_is_a_model_error(tmp_path: Path) -> None:
    from tests.ggufgen import tiny_gguf

    bogus = tiny_gguf(tmp_path / "bogus.gguf")  # valid GGUF structure, not a loadable model
    backend = LlamaCppBackend(Config(model=str(bogus)))
    try:
        health = await backend.health()
        assert health.status is HealthStatus.ERROR and "bogus.gguf" in health.detail
        with pytest.raises(ModelCorrupt, match="cannot load"):
            await backend.generate(GenerationRequest(prompt="x", max_tokens=2))
    finally:
        await backend.aclose()


MEMBER = ("<|fim_prefix|>def summary(result):\n    x = result.<|fim_suffix|>\n"
          "    return x\n<|fim_middle|>")


async def test_the_first_identifier_is_kept_to_the_allowed_names(
        backend: LlamaCppBackend) -> None:
    free = await backend.generate(GenerationRequest(prompt=MEMBER, max_tokens=8, stop=("\n",)))
    names = ("final_output", "final_output_as", "to_input_list")
    assert not free.text.startswith(names)  # the model alone invents another member
    kept = await backend.generate(GenerationRequest(prompt=MEMBER, max_tokens=8, stop=("\n",),
                                                    first_identifier=names))
    assert kept.text.startswith(names) and kept.finish_reason == "stop"
    # After the name the model is free again; a name that is complete may end the output.
    rest = kept.text[len(next(n for n in sorted(names, key=len, reverse=True)
                              if kept.text.startswith(n))):]
    assert not rest[:1].isidentifier()
    again = await backend.generate(GenerationRequest(prompt=MEMBER, max_tokens=8, stop=("\n",)))
    assert again.text == free.text  # no constraint left behind on the next request
