"""Adaptive threads on the real model with real busy processes beside it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from codeslm.backends.llamacpp import LlamaCppBackend
from codeslm.config import Config
from codeslm.types import GenerationRequest

pytestmark = pytest.mark.model

FIM = "<|fim_prefix|>def square(x):\n    return <|fim_suffix|>\n<|fim_middle|>"


@pytest.fixture
def busy_cores() -> Iterator[int]:
    """As many spinning processes as this process may use cores, for the test's duration."""
    cores = len(os.sched_getaffinity(0))
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                for _ in range(cores)]
    time.sleep(0.5)  # let them be scheduled
    try:
        yield cores
    finally:
        for p in spinners:
            p.kill()
            p.wait()


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="Linux /proc only")
def test_a_busy_machine_gets_one_thread_and_still_an_answer(
        model_path: Path, busy_cores: int) -> None:
    import llama_cpp

    backend = LlamaCppBackend(Config(model=str(model_path), n_ctx=1024, threads=2),
                              model_path=model_path)
    try:
        result = asyncio.run(backend.generate(
            GenerationRequest(prompt=FIM, max_tokens=8, stop=("\n",))))
        llm = backend._ensure_loaded()
        # every core is taken by a spinner, so the request ran on one thread
        assert llama_cpp.llama_n_threads(llm._ctx.ctx) == 1
        assert backend.threads.reduced == 1
        assert "x" in result.text
    finally:
        asyncio.run(backend.aclose())


def test_switched_off_it_keeps_the_configured_threads(model_path: Path,
                                                      busy_cores: int) -> None:
    import llama_cpp

    config = Config(model=str(model_path), n_ctx=1024, threads=2, adaptive_threads=False)
    backend = LlamaCppBackend(config, model_path=model_path)
    try:
        asyncio.run(backend.generate(GenerationRequest(prompt=FIM, max_tokens=4)))
        llm = backend._ensure_loaded()
        assert llama_cpp.llama_n_threads(llm._ctx.ctx) == 2
        assert backend.threads.reduced == 0
    finally:
        asyncio.run(backend.aclose())
