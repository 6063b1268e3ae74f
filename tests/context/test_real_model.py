"""The context builder with the real default model: context reaches the model and helps,
consecutive prompts reuse the KV cache, and the CLI commands run end to end."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from codeslm.backends.llamacpp import LlamaCppBackend
from codeslm.completion.request import CompletionOptions
from codeslm.config import Config
from codeslm.context import WorkspaceProvider
from codeslm.engine import CompletionEngine
from codeslm.types import CompletionMode, Document, Position

from ..conftest import codeslm_command
from .conftest import CANARIES, write_repo

pytestmark = pytest.mark.model

PRICING = {
    "shop/__init__.py": "",
    "shop/pricing.py": '''"""Shipping prices."""

ZONES = {"eu": 1.0, "us": 1.4, "asia": 1.8}


def compute_shipping_quote(weight_kg: float, zone: str, express: bool = False) -> float:
    """Price of a parcel of ``weight_kg`` to ``zone``."""
    base = 4.5 + 1.2 * weight_kg
    return base * ZONES[zone] * (2 if express else 1)
''',
    "shop/orders.py": '''from . import pricing


class Order:
    def __init__(self, weight_kg: float, zone: str) -> None:
        self.weight_kg = weight_kg
        self.zone = zone

    def shipping(self) -> float:
        return pricing.compute_shipping_quote(self.weight_kg, self.zone)
''',
    "shop/checkout.py": '''from . import pricing
from .orders import Order


def total(order: Order, items: float) -> float:
    cost = pricing.
    return items + cost
''',
}


@pytest.fixture(scope="module")
def backend(model_path: Path) -> Iterator[LlamaCppBackend]:
    b = LlamaCppBackend(Config(model=str(model_path), n_ctx=4096), model_path=model_path)
    yield b
    asyncio.run(b.aclose())


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    root = write_repo(tmp_path / "shop-repo", PRICING)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def _engine(backend: LlamaCppBackend, model_path: Path, root: Path,
            ) -> tuple[CompletionEngine, WorkspaceProvider]:
    config = Config(model=str(model_path))
    config.completion.latency_budget_ms = 0
    provider = WorkspaceProvider.open(root, config)
    return CompletionEngine(backend, config, context_provider=provider), provider


async def test_repository_context_gives_the_model_the_api(
        backend: LlamaCppBackend, model_path: Path, shop: Path) -> None:
    engine, provider = _engine(backend, model_path, shop)
    path = shop / "shop" / "checkout.py"
    text = path.read_text()
    offset = text.index("pricing.") + len("pricing.")
    doc = Document(text, str(path), "python")
    position = Position(text[:offset].count("\n"), offset - text.rfind("\n", 0, offset) - 1)
    plan = await engine.plan(doc, position, CompletionOptions(mode=CompletionMode.SINGLE_LINE))
    assert plan.prompt.startswith("<|repo_name|>shop-repo\n<|file_sep|>")
    assert "def compute_shipping_quote(" in plan.prompt
    assert "<|file_sep|>shop/checkout.py\n<|fim_prefix|>" in plan.prompt
    options = CompletionOptions(mode=CompletionMode.SINGLE_LINE, max_tokens=24)
    with_context = await engine.complete(doc, position, options)
    assert with_context.text.startswith("compute_shipping_quote(")
    provider.close()


async def test_typing_reuses_almost_the_whole_prompt(
        backend: LlamaCppBackend, model_path: Path, shop: Path) -> None:
    engine, provider = _engine(backend, model_path, shop)
    path = shop / "shop" / "checkout.py"
    text = path.read_text()
    offset = text.index("pricing.") + len("pricing.")
    usages = []
    for typed in ("", "c", "co"):
        t = text[:offset] + typed + text[offset:]
        doc = Document(t, str(path), "python")
        at = offset + len(typed)
        position = Position(t[:at].count("\n"), at - t.rfind("\n", 0, at) - 1)
        options = CompletionOptions(mode=CompletionMode.SINGLE_LINE, max_tokens=4)
        plan = await engine.plan(doc, position, options)
        usages.append((await backend.generate(plan.request)).usage)
    for usage in usages[1:]:
        assert usage.prompt_tokens and usage.cached_prompt_tokens is not None
        tail = usage.prompt_tokens - usage.cached_prompt_tokens
        # Only the cursor line onwards is new: the suffix here is two short lines.
        assert tail <= 20, usage
        assert usage.cached_prompt_tokens / usage.prompt_tokens > 0.85
    provider.close()


def test_cli_index_complete_and_eval_repo(cli_env: dict[str, str], shop: Path, repo: Path,
                                          isolated_home: Path) -> None:
    run = subprocess.run([*codeslm_command(), "index", str(shop), "--json"], env=cli_env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["files"] == 4 and summary["parsed"] == 4
    assert Path(summary["database"]).is_relative_to(isolated_home)

    line = PRICING["shop/checkout.py"].split("\n").index("    cost = pricing.") + 1
    location = f"shop/checkout.py:{line}:{len('    cost = pricing.') + 1}"
    for extra in ([], ["--no-context"]):
        done = subprocess.run([*codeslm_command(), "complete", location, "--json",
                               "--mode", "single-line", "--max-tokens", "16", *extra],
                              env=cli_env, cwd=shop, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        if not extra:
            assert result["text"].startswith("compute_shipping_quote(")
            assert result["tokens"]["prompt"] is None or result["tokens"]["prompt"] > 60

    out = shop.parent / "eval.jsonl"
    command = [*codeslm_command(), "eval", "repo", str(repo), "--holes", "2", "--context",
               "none,repo", "--max-tokens", "24", "--output", str(out)]
    evaluated = subprocess.run(command, env=cli_env, capture_output=True, text=True,
                               timeout=600)
    assert evaluated.returncode == 0, evaluated.stderr
    rows = [json.loads(x) for x in out.read_text().splitlines()[1:]]
    assert len(rows) == 4 and {r["mode"] for r in rows} == {"none", "repo"}
    assert {r["path"] for r in rows} <= {"pkg/service.py", "pkg/__init__.py", "web/app.ts",
                                          "go/main.go", "pkg/storage.py"}
    assert all(r["probe_prompt_tokens"] for r in rows if len(r["target"]) >= 4)
    table = evaluated.stdout
    assert "exact" in table and "\nnone " in table and "\nrepo " in table
    again = subprocess.run(command, env=cli_env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and len(out.read_text().splitlines()) == 5  # resumed: no rerun


def test_cli_context_shows_what_the_prompt_gets(cli_env: dict[str, str], shop: Path,
                                                repo: Path) -> None:
    line = PRICING["shop/checkout.py"].split("\n").index("    cost = pricing.") + 1
    location = f"shop/checkout.py:{line}:{len('    cost = pricing.') + 1}"
    shown = subprocess.run([*codeslm_command(), "context", location, "--json"], env=cli_env,
                           cwd=shop, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    assert report["root"] == str(shop) and report["mode"] == "single-line"
    pricing = [s for s in report["snippets"] if s["path"] == "shop/pricing.py"]
    assert pricing and pricing[0]["kind"] == "definition" and pricing[0]["tokens"] > 5
    assert "def compute_shipping_quote(" in report["prompt"]
    assert report["prompt"].rstrip().endswith("<|fim_middle|>")
    assert report["prompt_tokens"] > sum(s["tokens"] for s in report["snippets"])

    table = subprocess.run([*codeslm_command(), "context", location, "--prompt", "--budget",
                            "0"], env=cli_env, cwd=shop, capture_output=True, text=True,
                           timeout=120)
    assert table.returncode == 0, table.stderr
    assert "0 snippet(s)" in table.stdout and "no snippet chosen" in table.stdout
    assert "<|fim_prefix|>" in table.stdout and "compute_shipping_quote" not in table.stdout

    # The secret canaries of the sample repository never show, even when asked for the prompt.
    settings = repo / "pkg" / "service.py"
    canary = subprocess.run([*codeslm_command(), "context", f"{settings}:9:12", "--prompt"],
                            env=cli_env, cwd=repo, capture_output=True, text=True, timeout=120)
    assert canary.returncode == 0, canary.stderr
    assert not any(c in canary.stdout for c in CANARIES)

    wrong = subprocess.run([*codeslm_command(), "context", "shop/checkout.py:99:1"],
                           env=cli_env, cwd=shop, capture_output=True, text=True, timeout=120)
    assert wrong.returncode == 2 and wrong.stderr.startswith("error: ")
    assert len(wrong.stderr.strip().splitlines()) == 1
