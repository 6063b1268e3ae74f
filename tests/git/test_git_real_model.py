"""Git assistance end to end on the real default model (Qwen2.5-Coder-0.5B on llama.cpp).

Real repositories, the real git running the installed hooks, the real pre-commit framework
running the hooks of .pre-commit-hooks.yaml. The hook timeout is raised in the tests that
check a generated message, so that a loaded CI machine cannot turn them into timeouts; the
timeout itself is checked separately, also on the real model.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from codeslm.backends.base import Backend
from codeslm.backends.llamacpp import LlamaCppBackend
from codeslm.config import Config
from codeslm.git.changes import collect
from codeslm.git.conventional import is_valid
from codeslm.git.diff import parse_diff
from codeslm.git.message import MessageWriter
from codeslm.git.repo import GitRepo
from codeslm.git.review import review
from codeslm.git.style import learn
from codeslm.types import BackendHealth, Chunk, GenerationRequest, ModelInfo

from ..conftest import REPO, codeslm_command
from .conftest import Repo, editor_that_copies

pytestmark = pytest.mark.model

SLOW_OK = "180"  # seconds: generous hook timeout where a message must be produced


def _env(repo: Repo, cli_env: dict[str, str], **extra: str) -> dict[str, str]:
    env = dict(repo.env)
    env.update({k: v for k, v in cli_env.items() if k.startswith("CODESLM_")})
    env.update(extra)
    return env


def _codeslm(args: list[str], repo: Repo, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*codeslm_command(), *args], cwd=repo.path, env=env, text=True,
                          capture_output=True, timeout=600, check=False)


def _subject(message: str) -> str:
    return message.strip().split("\n", 1)[0]


def test_plain_commit_in_a_new_repository_and_sourced_commits(
        repo: Repo, cli_env: dict[str, str], tmp_path: Path) -> None:
    editor, copy = editor_that_copies(tmp_path)
    env = _env(repo, cli_env, GIT_EDITOR=editor, CODESLM_GIT_TIMEOUT_S=SLOW_OK)
    installed = _codeslm(["hook", "install"], repo, env)
    assert installed.returncode == 0, installed.stderr
    repo.write("temperature.py", "def c_to_f(celsius):\n    return celsius * 9 / 5 + 32\n")
    repo.git("add", "-A")
    proc = repo.git("commit", "-q", env=env)  # unborn branch: the first commit
    shown = copy.read_text()
    message = repo.last_message()
    assert is_valid(message), (message, proc.stderr)
    assert shown.startswith(message.split("\n")[0])
    assert "# codeslm: written by qwen2.5-coder-0.5b" in shown
    assert "# Please enter the commit message" in shown and "new file:   temperature.py" in shown
    # -m, --amend and merges keep their messages; the model is not even loaded for them.
    repo.write("temperature.py", "def c_to_f(c):\n    return c * 9 / 5 + 32\n")
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "refactor: shorter name", env=env)
    assert repo.last_message() == "refactor: shorter name"
    repo.git("commit", "-q", "--amend", env=env)
    assert repo.last_message() == "refactor: shorter name" and "codeslm" not in copy.read_text()
    repo.git("checkout", "-q", "-b", "side")
    repo.write("side.txt", "s\n")
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "docs: side", env=env)
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--no-ff", "side", env=env)
    assert repo.last_message() == "Merge branch 'side'"


def test_model_that_cannot_load_or_is_too_slow_lets_the_commit_go(
        repo: Repo, cli_env: dict[str, str], tmp_path: Path) -> None:
    editor, _ = editor_that_copies(tmp_path)
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)
    env = _env(repo, cli_env, GIT_EDITOR=editor, CODESLM_MODEL=str(broken),
               EDITOR_TYPES="fix: typed by hand")
    assert _codeslm(["hook", "install"], repo, env).returncode == 0
    repo.write("a.py", "x = 1\n")
    repo.git("add", "-A")
    proc = repo.git("commit", "-q", env=env)
    assert "codeslm: no commit message (" in proc.stderr, proc.stderr
    assert repo.last_message() == "fix: typed by hand"
    # The real model with a timeout far below its load + prompt time: the hook gives up.
    env = _env(repo, cli_env, GIT_EDITOR=editor, CODESLM_GIT_TIMEOUT_S="0.3",
               EDITOR_TYPES="fix: typed again")
    repo.write("a.py", "x = 2\n")
    repo.git("add", "-A")
    started = time.monotonic()
    proc = repo.git("commit", "-q", env=env)
    elapsed = time.monotonic() - started
    assert "gave up after" in proc.stderr and "the commit goes on" in proc.stderr
    assert repo.last_message() == "fix: typed again"
    assert elapsed < 0.3 + 1.5 + 4, elapsed  # timeout + watchdog grace + start-up


def test_a_diff_far_over_the_budget_still_gets_a_message(
        repo: Repo, cli_env: dict[str, str], tmp_path: Path) -> None:
    editor, copy = editor_that_copies(tmp_path)
    env = _env(repo, cli_env, GIT_EDITOR=editor, CODESLM_GIT_TIMEOUT_S=SLOW_OK)
    assert _codeslm(["hook", "install"], repo, env).returncode == 0
    for i in range(30):
        repo.write(f"shapes/shape{i}.py", "".join(
            f"def area_{i}_{n}(w, h):\n    return w * h * {n}\n\n\n" for n in range(60)))
    repo.write("package-lock.json", json.dumps({"packages": {f"p{i}": i for i in range(500)}}))
    repo.git("add", "-A")
    repo.git("commit", "-q", env=env)
    shown = copy.read_text()
    assert is_valid(repo.last_message()), repo.last_message()
    assert "is over the budget of" in shown and "shortened:" in shown
    assert "not sent to the model: package-lock.json (lockfile" in shown


def test_commit_msg_command_uses_map_reduce(repo: Repo, cli_env: dict[str, str]) -> None:
    repo.write("README.md", "# Shop\n")
    repo.commit("docs: start")
    repo.write("shop/cart.py", "".join(
        f"def add_item_{n}(cart, item):\n    cart.append(item)\n    return cart\n\n\n"
        for n in range(25)))
    repo.write("shop/prices.py", "".join(
        f"def price_{n}(amount):\n    return round(amount * 1.{n:02d}, 2)\n\n\n"
        for n in range(25)))
    repo.git("add", "-A")
    env = _env(repo, cli_env, CODESLM_GIT_MAP_MAX_CALLS="2")
    proc = _codeslm(["commit-msg", "--json", "--max-diff-tokens", "300"], repo, env)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["strategy"] == "map-reduce" and data["model_calls"] == 3
    assert is_valid(data["message"]), data
    assert any("per-file summaries" in n for n in data["notes"])


class Recording(Backend):
    """Passes everything to the real backend and keeps every request it sees."""

    name = "recording"

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.requests: list[GenerationRequest] = []

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        self.requests.append(request)
        async for chunk in self.inner.stream(request):
            yield chunk

    async def health(self) -> BackendHealth:
        return await self.inner.health()

    async def tokenize(self, text: str) -> list[int]:
        return await self.inner.tokenize(text)

    def count_tokens_sync(self, text: str) -> int | None:
        return self.inner.count_tokens_sync(text)

    async def model_info(self) -> ModelInfo:
        return await self.inner.model_info()


@pytest.fixture(scope="module")
def real_backend(model_path: Path) -> Iterator[LlamaCppBackend]:
    backend = LlamaCppBackend(Config(), model_path=model_path)
    yield backend
    backend._executor.shutdown(wait=True)


CANARIES = {
    ".env": "DATABASE_URL=postgres://app:CANARY-env-4b1e@db/app\n",
    "deploy/id_rsa": "-----BEGIN OPENSSH PRIVATE KEY-----\nCANARY-key-9f2c\n"
                     "-----END OPENSSH PRIVATE KEY-----\n",
    "config/settings.yaml": "name: shop\npassword: CANARY-yaml-77aa\n",
}
CODE = (
    "import requests\n\n"
    "API_TOKEN = \"ghp_CANARYcodeTokenAbCdEfGhIjKlMnOpQrStUv12\"\n\n\n"
    "def fetch(url):\n"
    "    breakpoint()\n"
    "    return requests.get(url, headers={\"Authorization\": f\"token {API_TOKEN}\"}).json()\n"
)


async def test_canaries_never_reach_the_model(repo: Repo, real_backend: LlamaCppBackend) -> None:
    for name, text in CANARIES.items():
        repo.write(name, text)
    repo.write("client.py", CODE)
    repo.git("add", "-A")
    git = GitRepo(repo.path)
    config = Config()
    recording = Recording(real_backend)
    changes = collect(git, config)
    result = await MessageWriter(recording, config).write(changes, learn([]))
    assert is_valid(result.message)
    found = await review(changes, config, recording)
    prompts = "\n".join(m.content for r in recording.requests for m in r.messages)
    assert len(recording.requests) >= 2 and "client.py" in prompts
    assert "CANARY" not in prompts and "ghp_" not in prompts
    listed = {line.split(" (")[0][2:]: line for line in prompts.splitlines()
              if line[:2] in {"A ", "M "}}
    assert "[secret file, not sent]" in listed[".env"]  # secret files: named, never shown
    assert "[secret file, not sent]" in listed["deploy/id_rsa"]
    assert "config/settings.yaml" in listed and "password: [REDACTED]" in prompts
    secrets = {(f.path, f.line) for f in found.findings if f.rule == "secret"}
    assert {(".env", 1), ("deploy/id_rsa", 1), ("config/settings.yaml", 2),
            ("client.py", 3)} <= secrets
    added = {f.path: f.added_lines() for f in parse_diff(git.diff())}
    assert all(f.line in added[f.path] for f in found.findings)
    assert ("client.py", 7) in {(f.path, f.line) for f in found.findings}  # breakpoint()


def test_review_command_writes_sarif(repo: Repo, cli_env: dict[str, str]) -> None:
    repo.write("stats.py", "def mean(xs):\n    return sum(xs) / len(xs)\n")
    repo.commit("feat: mean")
    repo.write("stats.py", "def mean(xs):\n    total = 0\n    for x in xs:\n        total += x\n"
               "    print('debug', total)\n    return total / len(xs)\n\n\n"
               "def load(path):\n    try:\n        return open(path).read()\n"
               "    except Exception:\n        pass\n")
    repo.git("add", "-A")
    proc = _codeslm(["review", "--format", "sarif"], repo, _env(repo, cli_env))
    assert proc.returncode == 0, proc.stderr
    sarif = json.loads(proc.stdout)
    results = sarif["runs"][0]["results"]
    lines = {r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in results}
    added = parse_diff(GitRepo(repo.path).diff())[0].added_lines()
    assert lines <= added and 12 in lines  # the swallowed exception, found by a rule
    assert {r["ruleId"] for r in results} >= {"swallowed-error"}


def test_pre_commit_framework_runs_the_manifest(repo: Repo, cli_env: dict[str, str],
                                                tmp_path: Path) -> None:
    hooks_repo = tmp_path / "codeslm-hooks"
    hooks_repo.mkdir()
    shutil.copy(REPO / ".pre-commit-hooks.yaml", hooks_repo / ".pre-commit-hooks.yaml")
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "hooks"]):
        subprocess.run(["git", *args], cwd=hooks_repo, env=repo.env, check=True)
    rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=hooks_repo, env=repo.env, text=True,
                         capture_output=True, check=True).stdout.strip()
    repo.write(".pre-commit-config.yaml",
               "default_install_hook_types: [prepare-commit-msg]\n"
               f"repos:\n  - repo: {hooks_repo}\n    rev: {rev}\n    hooks:\n"
               "      - id: codeslm-commit-msg\n"
               "      - id: codeslm-review\n        args: [--no-model]\n")
    repo.write("shapes.py", "def square(x):\n    return x * x\n")
    editor, copy = editor_that_copies(tmp_path)
    env = _env(repo, cli_env, GIT_EDITOR=editor, CODESLM_GIT_TIMEOUT_S=SLOW_OK,
               PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"))
    pre_commit = [sys.executable, "-m", "pre_commit"]
    subprocess.run([*pre_commit, "install"], cwd=repo.path, env=env, check=True,
                   capture_output=True)
    assert "pre-commit" in (repo.path / ".git/hooks/prepare-commit-msg").read_text()
    repo.git("add", "-A")
    proc = repo.git("commit", "-q", env=env)
    message = repo.last_message()
    assert is_valid(message), (message, proc.stdout, proc.stderr)
    assert copy.read_text().startswith(_subject(message))
    repo.write("shapes.py", "def square(x):\n    breakpoint()\n    return x * x\n")
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "debug: keep my message", env=env)
    assert repo.last_message() == "debug: keep my message"
    repo.write("shapes.py", "def cube(x):\n    import pdb; pdb.set_trace()\n    return x ** 3\n")
    repo.git("add", "-A")
    proc = subprocess.run([*pre_commit, "run", "--hook-stage", "manual", "codeslm-review"],
                          cwd=repo.path, env=env, text=True, capture_output=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "shapes.py:2: medium: leftover debugger call [debug-code]" in proc.stdout
    assert os.environ.get("PRE_COMMIT_HOME") is None  # nothing leaked into the test process
