"""``codeslm serve``: launch plans, process handling and the errors a user meets first.

vLLM is not installed here and there is no GPU: the tests check the exact command line codeslm
builds and the error messages for those two cases (through the real CLI). The real llama.cpp
server lifecycle is in ``test_openai_real.py``.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from codeslm.config import Config
from codeslm.errors import BackendUnavailable, ConfigError
from codeslm.runtime import serving
from tests.conftest import REPO, codeslm_command


def test_vllm_plan_has_the_tuned_flags_and_privacy_env() -> None:
    config = Config(backend="vllm", api_key="sekret")
    config.serve.max_model_len = 4096
    config.serve.gpu_memory_utilization = 0.3
    config.serve.speculative_ngram = True
    config.serve.extra_args = ["-O1"]
    plan = serving.vllm_plan(config, "Qwen/Qwen2.5-Coder-1.5B", port=8123, executable=["vllm"])
    argv = plan.argv
    assert argv[:3] == ["vllm", "serve", "Qwen/Qwen2.5-Coder-1.5B"]
    pairs = dict(itertools.pairwise(argv[3:]))
    assert pairs["--host"] == "127.0.0.1" and pairs["--port"] == "8123"
    assert pairs["--max-model-len"] == "4096" and pairs["--gpu-memory-utilization"] == "0.3"
    assert pairs["--generation-config"] == "vllm"
    assert "--enable-prefix-caching" in argv
    spec = json.loads(pairs["--speculative-config"])
    assert spec == {
        "method": "ngram",
        "num_speculative_tokens": 4,
        "prompt_lookup_min": 2,
        "prompt_lookup_max": 5,
    }
    assert pairs["--api-key"] == "sekret"
    assert argv[-1] == "-O1"  # user arguments last, so they override codeslm's
    assert plan.env["VLLM_NO_USAGE_STATS"] == "1" and plan.env["DO_NOT_TRACK"] == "1"
    assert "HF_HUB_OFFLINE" not in plan.env  # not downloaded yet: vLLM may fetch it
    assert plan.url == "http://127.0.0.1:8123" and plan.health_path == "/health"
    assert plan.client_backend == "vllm"


def test_vllm_goes_offline_for_local_and_cached_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkpoint = tmp_path / "my-coder"
    checkpoint.mkdir()
    plan = serving.vllm_plan(Config(), str(checkpoint), port=1, executable=["vllm"])
    assert plan.argv[2] == str(checkpoint)
    assert plan.env["HF_HUB_OFFLINE"] == "1" and plan.env["TRANSFORMERS_OFFLINE"] == "1"
    hub = tmp_path / "hub"
    (hub / "models--Qwen--Qwen2.5-Coder-1.5B" / "snapshots" / "abc").mkdir(parents=True)
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    cached = serving.vllm_plan(Config(), "Qwen/Qwen2.5-Coder-1.5B", port=1, executable=["vllm"])
    assert cached.env["HF_HUB_OFFLINE"] == "1"


def test_vllm_model_names() -> None:
    assert serving.vllm_model_id("qwen2.5-coder-1.5b") == "Qwen/Qwen2.5-Coder-1.5B-Instruct"
    assert serving.vllm_model_id("bigcode/starcoder2-3b") == "bigcode/starcoder2-3b"
    with pytest.raises(ConfigError, match="GGUF"):
        serving.vllm_model_id("/models/x.gguf")


def test_llamacpp_plan_queues_requests_instead_of_interrupting(tmp_path: Path) -> None:
    config = Config(n_ctx=2048, threads=2)
    plan = serving.llamacpp_plan(config, tmp_path / "m.gguf", "qwen2.5-coder-0.5b", port=9000)
    argv = plan.argv
    assert argv[1:3] == ["-m", "llama_cpp.server"]
    assert argv[argv.index("--interrupt_requests") + 1] == "False"
    assert argv[argv.index("--n_ctx") + 1] == "2048"
    assert argv[argv.index("--model_alias") + 1] == "qwen2.5-coder-0.5b"
    assert plan.health_path == "/v1/models" and plan.client_backend == "openai-compatible"


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*codeslm_command(), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


def _env(tmp_path: Path, path: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODESLM_")
           or k in ("CODESLM_DAEMON_ENABLED", "CODESLM_RUNTIME_DIR")}
    env.update({"CODESLM_HOME": str(tmp_path / "home"), "PATH": path, "NO_COLOR": "1"})
    env.pop("CUDA_VISIBLE_DEVICES", None)
    return env


def test_serve_vllm_without_vllm_says_how_to_install_it(tmp_path: Path) -> None:
    bare = tmp_path / "bin"
    bare.mkdir()
    result = _cli(
        "serve",
        "--backend",
        "vllm",
        "--model",
        "Qwen/Qwen2.5-Coder-1.5B",
        env=_env(tmp_path, str(bare)),
    )
    assert result.returncode == 4
    assert result.stderr.splitlines()[0] == "error: vLLM is not installed in this environment"
    assert "pip install 'codeslm[vllm]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_vllm_without_a_gpu_says_so(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "vllm"  # only so that the GPU check is reached; it must never run
    fake.write_text('#!/bin/sh\necho ran >> "$0.ran"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    result = _cli(
        "serve",
        "--backend",
        "vllm",
        "--model",
        "Qwen/Qwen2.5-Coder-1.5B",
        env=_env(tmp_path, str(bin_dir)),
    )
    assert result.returncode == 4
    assert "error: no GPU found" in result.stderr and "--backend llama-cpp" in result.stderr
    assert not (bin_dir / "vllm.ran").exists()


def test_serve_dry_run_prints_the_command(tmp_path: Path) -> None:
    result = _cli(
        "serve",
        "--backend",
        "vllm",
        "--model",
        "Qwen/Qwen2.5-Coder-1.5B",
        "--dry-run",
        "--ngram",
        "--port",
        "8200",
        "--",
        "--enforce-eager",
        env=_env(tmp_path, os.environ["PATH"]),
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "VLLM_NO_USAGE_STATS=1" in lines and "DO_NOT_TRACK=1" in lines
    assert "serve Qwen/Qwen2.5-Coder-1.5B --host 127.0.0.1 --port 8200" in lines[-1]
    assert lines[-1].endswith("--enforce-eager")


def test_serve_refuses_unmanaged_backends_and_busy_ports(tmp_path: Path) -> None:
    env = _env(tmp_path, os.environ["PATH"])
    result = _cli("serve", "--backend", "ollama", env=env)
    assert (
        result.returncode == 2
        and "codeslm serve runs vllm, llama-cpp or llama-server" in result.stderr
    )
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _cli("serve", "--port", str(port), env=env)
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its reaper does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _plan(tmp_path: Path, code: str) -> serving.LaunchPlan:
    return serving.LaunchPlan(
        "test",
        [sys.executable, "-c", code],
        {},
        "http://127.0.0.1:9",
        "/health",
        "m",
        tmp_path / "logs" / "serve.log",
    )


def test_a_server_that_dies_while_starting_reports_its_log(tmp_path: Path) -> None:
    server = serving.ManagedServer(_plan(tmp_path, "print('bad model file'); raise SystemExit(3)"))
    server.start()
    with pytest.raises(BackendUnavailable, match=r"exited with code 3.*bad model file") as info:
        server.wait_ready(30)
    assert str(tmp_path / "logs" / "serve.log") in (info.value.hint or "")


def test_stop_ends_the_whole_process_group(tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    code = (
        "import subprocess, sys, time; "
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
        f"open({str(marker)!r}, 'w').write(str(p.pid)); time.sleep(600)"
    )
    server = serving.ManagedServer(_plan(tmp_path, code))
    server.start()
    deadline = time.monotonic() + 30
    while not marker.exists() or not marker.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    grandchild = int(marker.read_text())
    code_ = server.stop(grace_s=5)
    assert code_ == -15
    deadline = time.monotonic() + 10
    while alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(grandchild)  # no orphan keeps the GPU or the port
    assert serving.describe_exit(code_) == "was killed by SIGTERM"
    assert serving.describe_exit(2) == "exited with code 2"
