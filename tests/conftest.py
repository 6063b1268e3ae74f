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
    monkeypatch.setenv("CODESLM_RUNTIME_DIR", str(_runtime_dir(tmp_path_factory)))
    return home


_RUNTIME: list[Path] = []


def pytest_configure(config: pytest.Config) -> None:
    """Give the whole run a private ``XDG_RUNTIME_DIR``.

    Many tests build a subprocess environment from scratch, dropping every ``CODESLM_*``
    variable, so the daemon settings of :func:`isolated_home` do not reach it. Such a process
    that starts the shared model daemon would otherwise put it in the user's own runtime
    directory (``/tmp/codeslm-UID``), where it outlives the run by its idle timeout (~0.6 GB
    each). ``XDG_RUNTIME_DIR`` survives those environments, so their daemons land here, and
    :func:`pytest_unconfigure` stops them.
    """
    import tempfile

    private = Path(tempfile.mkdtemp(prefix="csx-"))
    private.chmod(0o700)
    os.environ["XDG_RUNTIME_DIR"] = str(private)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop every model daemon the run started, in either private directory."""
    from codeslm.backends.daemon import runtime

    saved = os.environ.get("CODESLM_RUNTIME_DIR")
    dirs = [*_RUNTIME, Path(os.environ.get("XDG_RUNTIME_DIR", "")) / "codeslm"]
    stopped: list[str] = []
    try:
        for directory in dirs:
            if not directory.is_dir():
                continue
            os.environ["CODESLM_RUNTIME_DIR"] = str(directory)
            for files, hello in runtime.running():
                runtime.stop(files)
                stopped.append(f"{directory.name}/{files.socket.stem} ({hello.get('model')})")
    finally:
        if saved is None:
            os.environ.pop("CODESLM_RUNTIME_DIR", None)
        else:
            os.environ["CODESLM_RUNTIME_DIR"] = saved
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if stopped and reporter is not None:
        reporter.write_line(f"stopped model daemons left running by tests: {', '.join(stopped)}")


def _runtime_dir(factory: pytest.TempPathFactory) -> Path:
    """One short private directory for every test's daemon sockets (a socket path must stay
    under about 100 bytes)."""
    if not _RUNTIME:
        import tempfile

        path = Path(tempfile.mkdtemp(prefix="csd-"))
        path.chmod(0o700)
        _RUNTIME.append(path)
    return _RUNTIME[0]


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
