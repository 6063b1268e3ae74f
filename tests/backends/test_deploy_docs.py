"""docs/deploy.md and its example configs stay true to the code."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import yaml

from codeslm.backends.endpoints import session_header
from codeslm.config import read_toml
from tests.conftest import REPO, codeslm_command

DOCS = REPO / "docs"


def test_toml_examples_are_valid_codeslm_configs() -> None:
    files = sorted((DOCS / "examples").rglob("*.toml"))
    assert len(files) >= 2
    for path in files:
        flat = read_toml(path)  # raises ConfigError on an unknown key or a wrong type
        assert flat["backend"] == "vllm"


def test_yaml_examples_parse_and_route_on_the_header_codeslm_sends() -> None:
    compose = yaml.safe_load((DOCS / "examples/team/compose.yaml").read_text())
    router = compose["services"]["router"]["command"]
    assert router[router.index("--policy") + 1] == "consistent_hash"
    workers = router[router.index("--worker-urls") + 1 :]
    assert {w.split("//")[1].split(":")[0] for w in workers} == {"coder-0", "coder-1"}
    for name in ("coder-0", "coder-1"):
        args = compose["services"][name]["command"]
        assert "--enable-prefix-caching" in args and "--generation-config=vllm" in args
    stack = yaml.safe_load((DOCS / "examples/k8s/production-stack-values.yaml").read_text())
    assert stack["routerSpec"]["routingLogic"] == "session"
    assert stack["routerSpec"]["sessionKey"].lower() == "x-session-id"
    assert stack["servingEngineSpec"]["modelSpec"][0]["vllmConfig"]["enablePrefixCaching"]
    llmd = yaml.safe_load((DOCS / "examples/k8s/llm-d-values.yaml").read_text())
    assert llmd["decode"]["replicas"] == 2
    assert len(session_header("/repo")) == 24  # what the routers hash: short, no path inside


def test_the_documented_vllm_command_is_what_codeslm_serve_runs(tmp_path: Path) -> None:
    text = (DOCS / "deploy.md").read_text()
    block = re.search(r"```sh\n(VLLM_NO_USAGE_STATS=1 .*?)```", text, re.S)
    assert block is not None
    documented = " ".join(block.group(1).replace("\\\n", " ").split())
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODESLM_")}
    env["CODESLM_HOME"] = str(tmp_path)
    result = subprocess.run(
        [
            *codeslm_command(),
            "serve",
            "--backend",
            "vllm",
            "--model",
            "Qwen/Qwen2.5-Coder-1.5B",
            "--port",
            "8012",
            "--dry-run",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    *env_lines, command = result.stdout.splitlines()
    _executable, rest = command.split(" serve ", 1)  # the vllm path differs per machine
    assert " ".join([*env_lines, "vllm serve " + rest]) == documented
