"""Shared fixtures.

Every test runs with ``CODESLM_HOME`` pointing at a fresh temporary directory, so no user config,
cache or index leaks in. Tests that need the real model use the ``model_path`` fixture: the
verified default GGUF file from the real model cache (``CODESLM_TEST_MODEL`` may name another
file). The test command in the README fetches it first; if it is missing, those tests fail
with a message saying how to fetch it rather than being skipped silently.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _real_model_path() -> Path | None:
    explicit = os.environ.get("CODESLM_TEST_MODEL")
    if explicit:
        return Path(explicit)
    saved = os.environ.pop("CODESLM_HOME", None)
    try:
        from codeslm.runtime.models.registry import SMALL_MODEL
        from codeslm.runtime.models.resolve import resolve

        # The suite runs on the 0.5B (the small machines' model), not the 1.5B default: the
        # same code paths at half the time, and a third of the download.
        return resolve(SMALL_MODEL).path
    except Exception:
        return None
    finally:
        if saved is not None:
            os.environ["CODESLM_HOME"] = saved


_MODEL = _real_model_path()


@pytest.fixture(autouse=True)
def isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A private CODESLM_HOME and no CODESLM_* settings from the outside environment."""
    home = tmp_path_factory.mktemp("codeslm-home")
    for name in list(os.environ):
        if name.startswith("CODESLM_") and name != "CODESLM_TEST_MODEL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("CODESLM_HOME", str(home))
    monkeypatch.setenv("NO_COLOR", "1")
    # In-process llama.cpp unless a test asks for the shared daemon (tests/daemon), so that
    # no test leaves a model daemon behind; daemons of tests live in a private directory.
    monkeypatch.setenv("CODESLM_DAEMON_ENABLED", "0")
    monkeypatch.setenv("CODESLM_RUNTIME_DIR", str(_RUNTIME[0]))
    return home


_RUNTIME: list[Path] = []  # [private CODESLM_RUNTIME_DIR, private XDG_RUNTIME_DIR]


def pytest_configure(config: pytest.Config) -> None:
    """Keep every model daemon of the run private, and in-process llama.cpp the default.

    :func:`isolated_home` sets the daemon settings for each test, but fixtures of a wider scope
    (a module's language server) start before it, and many tests build a subprocess
    environment from scratch, dropping every ``CODESLM_*`` variable. Either would start the
    shared model daemon in the user's own runtime directory (``/tmp/codeslm-UID``), where it
    outlived the run by its idle timeout (~0.6 GB each). So the settings are also the whole
    process's from the start, and ``XDG_RUNTIME_DIR`` (which survives those environments) is a
    private directory too; :func:`pytest_unconfigure` stops what runs in either and removes
    them. Socket paths must stay under about 100 bytes: hence short temporary directories.
    """
    import tempfile

    for prefix in ("csd-", "csx-"):
        path = Path(tempfile.mkdtemp(prefix=prefix))
        path.chmod(0o700)
        _RUNTIME.append(path)
    os.environ["CODESLM_DAEMON_ENABLED"] = "0"
    os.environ["CODESLM_RUNTIME_DIR"] = str(_RUNTIME[0])
    os.environ["XDG_RUNTIME_DIR"] = str(_RUNTIME[1])


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop every model daemon the run started, in either private directory, and remove both."""
    import shutil

    from codeslm.backends.daemon import runtime

    stopped: list[str] = []
    daemon_dirs = (_RUNTIME[0], _RUNTIME[1] / "codeslm") if _RUNTIME else ()
    for directory in daemon_dirs:
        if not directory.is_dir():
            continue
        os.environ["CODESLM_RUNTIME_DIR"] = str(directory)
        for files, hello in runtime.running():
            runtime.stop(files)
            stopped.append(f"{directory.name}/{files.socket.stem} ({hello.get('model')})")
    for path in _RUNTIME:
        shutil.rmtree(path, ignore_errors=True)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if stopped and reporter is not None:
        reporter.write_line(f"stopped model daemons left running by tests: {', '.join(stopped)}")


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The real test model (Qwen2.5-Coder-0.5B-Instruct Q4_K_M), verified."""
    if _MODEL is None or not _MODEL.is_file():
        pytest.fail(
            "the test model is not in the cache: run `codeslm models pull qwen2.5-coder-0.5b` "
            "(the README's test command does this) or set CODESLM_TEST_MODEL"
        )
    return _MODEL


@pytest.fixture
def cli_env(model_path: Path, isolated_home: Path) -> dict[str, str]:
    """Environment for running the installed ``codeslm`` command on the real model."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODESLM_")}
    env.update({"CODESLM_HOME": str(isolated_home), "CODESLM_MODEL": str(model_path),
                "NO_COLOR": "1", "CODESLM_DAEMON_ENABLED": "0",
                "CODESLM_RUNTIME_DIR": os.environ["CODESLM_RUNTIME_DIR"]})
    return env


def codeslm_command() -> list[str]:
    """How to run the CLI in a subprocess: the interpreter running the tests."""
    return [sys.executable, "-m", "codeslm"]
