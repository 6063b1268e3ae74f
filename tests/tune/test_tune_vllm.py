"""The PEFT adapter of ``codeslm tune`` served by the real vLLM server (``--enable-lora``
through ``codeslm serve --backend vllm --lora NAME=FOLDER``), beside its tiny base model.

Skipped, with the command that installs it, when vLLM's CPU build is absent (``.ci/run``
installs it)."""

from __future__ import annotations

import httpx
import pytest

from ..vllm.conftest import running_server, vllm_python
from .conftest import Tuned

pytestmark = [pytest.mark.vllm, pytest.mark.slow, pytest.mark.timeout(1200)]

PROMPT = "<|fim_prefix|>def total(cart):\n    return <|fim_suffix|>\n<|fim_middle|>"


def _logprobs(url: str, model: str) -> dict[str, float]:
    answer = httpx.post(
        url + "/v1/completions",
        json={"model": model, "prompt": PROMPT, "max_tokens": 1, "temperature": 0, "logprobs": 5},
        timeout=300,
        trust_env=False,
    )
    answer.raise_for_status()
    data = answer.json()
    assert data["model"] == model
    return dict(data["choices"][0]["logprobs"]["top_logprobs"][0])


def test_vllm_serves_the_tuned_adapter(
    tuned: Tuned, tmp_path_factory: pytest.TempPathFactory
) -> None:
    vllm_python()
    work = tmp_path_factory.mktemp("vllm-tune")
    with running_server(
        work, "--model", str(tuned.hf), "--lora", f"repo={tuned.adapter}"
    ) as server:
        assert "LoRA adapters: repo" in server.stderr
        listed = httpx.get(server.url + "/v1/models", timeout=10, trust_env=False).json()
        ids = {card["id"] for card in listed["data"]}
        assert "repo" in ids and len(ids) == 2
        base_model = next(i for i in ids if i != "repo")
        base, adapted = _logprobs(server.url, base_model), _logprobs(server.url, "repo")
        # The trained LoRA moves the distribution: vLLM loaded and applied it.
        shared = set(base) & set(adapted)
        assert shared, (base, adapted)
        assert max(abs(base[t] - adapted[t]) for t in shared) > 1e-4, (base, adapted)
