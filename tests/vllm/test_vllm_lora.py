"""Multi-LoRA on a real vLLM server: ``codeslm serve --backend vllm --lora NAME=PATH`` serves a
tiny adapter made here with PEFT, vLLM answers through it, and a repository picks its adapter
with ``model = "NAME"`` in its ``.codeslm.toml``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import (
    REPO,
    VllmServer,
    client_env,
    running_server,
    serve_env,
    vllm_python,
    write_config,
)

pytestmark = [pytest.mark.vllm, pytest.mark.slow, pytest.mark.timeout(900)]

BASE = "qwen2.5-coder-0.5b"
ADAPTER = "repo-a"
PROMPT = "def add(a, b):\n    return"


@pytest.fixture(scope="module")
def lora_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VllmServer]:
    python = vllm_python()
    work = tmp_path_factory.mktemp("lora")
    write_config(work / "config.toml")
    # The model's Hugging Face form (converted once and cached) is what the adapter adapts.
    setup = subprocess.run(
        [sys.executable, "-m", "codeslm", "setup", "--vllm"],
        cwd=REPO,
        env=serve_env(work / "config.toml"),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert setup.returncode == 0, setup.stderr[-2000:]
    folder = re.search(r"^model for vLLM: (.+)$", setup.stdout, re.M)
    assert folder is not None, setup.stdout
    adapter = work / "adapter"
    made = subprocess.run(
        [
            str(python),
            "-P",
            str(Path(__file__).with_name("make_lora.py")),
            folder.group(1),
            str(adapter),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert made.returncode == 0, made.stderr[-2000:]
    with running_server(work, "--lora", f"{ADAPTER}={adapter}") as server:
        yield server


def _complete(server: VllmServer, model: str) -> str:
    answer = httpx.post(
        server.url + "/v1/completions",
        json={"model": model, "prompt": PROMPT, "max_tokens": 6, "temperature": 0},
        timeout=300,
        trust_env=False,
    )
    answer.raise_for_status()
    data = answer.json()
    assert data["model"] == model
    return str(data["choices"][0]["text"])


def test_vllm_serves_the_adapter_beside_the_base_model(lora_server: VllmServer) -> None:
    assert f"LoRA adapters: {ADAPTER}" in lora_server.stderr
    listed = httpx.get(lora_server.url + "/v1/models", timeout=10, trust_env=False).json()
    ids = {card["id"] for card in listed["data"]}
    assert ids == {BASE, ADAPTER}
    base, adapted = _complete(lora_server, BASE), _complete(lora_server, ADAPTER)
    assert "a + b" in base
    assert adapted != base  # the adapter's random weights change the answer: it was applied


def test_a_repository_picks_its_adapter(lora_server: VllmServer, tmp_path: Path) -> None:
    def complete_in(folder: Path) -> dict[str, object]:
        folder.mkdir()
        (folder / "calc.py").write_text("def add(a, b):\n    return \n")
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "codeslm",
                "complete",
                "--json",
                "--max-tokens",
                "4",
                "--backend",
                "vllm",
                "--url",
                lora_server.url,
                "calc.py:2:12",
            ],
            cwd=folder,
            env=client_env(tmp_path / "home"),
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
        )
        assert result.returncode == 0, result.stderr
        return dict(json.loads(result.stdout))

    repo = tmp_path / "repo-a"
    (tmp_path / "repo-a").mkdir()
    (repo / ".codeslm.toml").write_text(f'model = "{ADAPTER}"\n')
    (repo / "src").mkdir()
    assert complete_in(repo / "src" / "pkg")["model"] == ADAPTER
    assert complete_in(tmp_path / "elsewhere")["model"] == BASE


def test_a_bad_adapter_is_a_one_line_error(tmp_path: Path) -> None:
    write_config(tmp_path / "config.toml")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "codeslm",
            "serve",
            "--backend",
            "vllm",
            "--lora",
            f"x={tmp_path}",
            "--dry-run",
        ],
        cwd=REPO,
        env=serve_env(tmp_path / "config.toml"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert result.stderr.splitlines()[0] == (
        f"error: {tmp_path.resolve()} is not a LoRA adapter (no adapter_config.json)"
    )
