"""A model without FIM tokens (SmolLM2-135M) falls back to prefix-only completion, decided
from its real vocabulary."""

from __future__ import annotations

from pathlib import Path

import pytest

from codeslm.backends.llamacpp import LlamaCppBackend
from codeslm.config import Config
from codeslm.engine import CompletionEngine
from codeslm.runtime.models.resolve import resolve
from codeslm.types import Document, Position

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def smollm_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import os

    saved = os.environ.pop("CODESLM_HOME", None)
    try:
        return resolve("smollm2-135m").path
    except Exception as exc:
        pytest.fail(f"smollm2-135m is not in the model cache ({exc}); "
                    "run `codeslm models pull smollm2-135m`")
    finally:
        if saved is not None:
            os.environ["CODESLM_HOME"] = saved


async def test_smollm2_gets_prefix_only_prompts(smollm_path: Path) -> None:
    config = Config(model=str(smollm_path), n_ctx=1024)
    backend = LlamaCppBackend(config, model_path=smollm_path)
    try:
        engine = CompletionEngine(backend, config)
        fmt = await engine.fim_format()
        assert fmt.name == "prefix-only"
        assert len(await backend.tokenize("<fim_prefix>")) > 1
        assert len(await backend.tokenize("<file_sep>")) == 1  # repo token, but no FIM
        document = Document("def add(a, b):\n    return \n\nprint(add(1, 2))\n", "m.py", "python")
        plan = await engine.plan(document, Position(1, 11))
        assert plan.prompt == "def add(a, b):\n    return "  # the suffix is never shown
        completion = await engine.complete(document, Position(1, 11))
        assert "\n" not in completion.text
        assert completion.completion_tokens
    finally:
        await backend.aclose()
