"""A running managed server (:class:`ManagedServer`): start in its own process group, poll
readiness, name a known failure from the log, stop in order."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable

import httpx

from ...errors import BackendUnavailable
from .plan import VLLM, LaunchPlan, describe_exit

# Known ways a vLLM start fails, found in its log: (text in the log, problem, fix).
VLLM_FAILURES: tuple[tuple[str, str, str], ...] = (
    (
        "Address already in use",
        "its port is taken",
        "pass --port N (or 0 for any free port), or stop the other server",
    ),
    (
        "is not a valid JSON file",
        "it cannot load this model (not a Hugging Face folder: a GGUF file?)",
        "pass a known model name (codeslm converts its GGUF), a hub id or a checkpoint folder",
    ),
    (
        "Invalid repository ID or local directory",
        "it cannot load this model (neither a hub id nor a folder with config.json)",
        "pass a known model name (codeslm converts its GGUF), a hub id or a checkpoint folder",
    ),
    (
        "does not appear to have a file named config.json",
        "it cannot load this model (no config.json)",
        "pass a known model name, a hub id or a checkpoint folder",
    ),
    (
        "does not match the installed torch version",
        "the installed torch is not the one this vLLM was built for",
        "codeslm setup --vllm (or reinstall vLLM with its own torch)",
    ),
    (
        "larger than the available KV cache memory",
        "the KV cache is too small for --max-model-len",
        "lower serve.max_model_len, or give more memory (VLLM_CPU_KVCACHE_SPACE on a CPU)",
    ),
    (
        "No available memory for the cache blocks",
        "there is no memory left for the KV cache",
        "lower serve.max_model_len or serve.gpu_memory_utilization, or free memory",
    ),
    (
        "out of memory",
        "it ran out of memory",
        "free memory, lower serve.max_model_len, or use a smaller model",
    ),
    (
        "Failed to infer device type",
        "it found no device (a GPU build without a GPU?)",
        "on a CPU: codeslm setup --vllm installs the CPU build",
    ),
)


_LOG_PREFIX = re.compile(
    r"^(\(\w+ pid=\d+\)\s+)?((INFO|WARNING|ERROR|DEBUG)\s+\d\d-\d\d [\d:.]+ \[[^\]]*\]\s*)?"
)


def log_line_summary(line: str) -> str:
    """A server log line without vLLM's ``(APIServer pid=1) INFO 12-06 16:28:44 [x.py:1]``."""
    return _LOG_PREFIX.sub("", line.strip(), count=1)


def explain_vllm_failure(log_text: str) -> tuple[str, str] | None:
    """(problem, fix) for the first known failure in a vLLM log, else None."""
    for needle, problem, fix in VLLM_FAILURES:
        if needle.lower() in log_text.lower():
            return problem, fix
    return None


class ManagedServer:
    """One running server process; see the module docstring."""

    def __init__(self, plan: LaunchPlan) -> None:
        self.plan = plan
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.plan.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.plan.log_path.open("ab")
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        log.write(f"\n==== {stamp} codeslm serve: {' '.join(self.plan.argv)}\n".encode())
        log.flush()
        env = {**os.environ, **self.plan.env}
        try:
            self.process = subprocess.Popen(
                self.plan.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            raise BackendUnavailable(
                f"cannot start {self.plan.argv[0]}: {exc.strerror or exc}"
            ) from None
        finally:
            log.close()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 8) -> list[str]:
        """The last lines of this run's log (for error messages)."""
        try:
            data = self.plan.log_path.read_bytes()[-16_000:].decode("utf-8", "replace")
        except OSError:
            return []
        text = data.rsplit("==== ", 1)[-1]
        return [line for line in text.splitlines() if line.strip()][-lines:]

    def _known_failure(self) -> tuple[str, str] | None:
        if self.plan.kind != VLLM:
            return None
        try:
            text = self.plan.log_path.read_bytes()[-200_000:].decode("utf-8", "replace")
        except OSError:
            return None
        return explain_vllm_failure(text.rsplit("\n==== ", 1)[-1])

    def wait_ready(
        self, timeout_s: float, progress: Callable[[float, str], None] | None = None
    ) -> float:
        """Poll the health URL until it answers 200; returns the seconds it took.

        Raises BackendUnavailable if the process exits or the timeout passes (then stops it).
        """
        assert self.process is not None
        started = time.monotonic()
        url = self.plan.url + self.plan.health_path
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            while True:
                elapsed = time.monotonic() - started
                code = self.process.poll()
                if code is not None:
                    known = self._known_failure()
                    if known is not None:
                        raise BackendUnavailable(
                            f"{self.plan.kind} {describe_exit(code)} while starting: {known[0]}",
                            hint=f"{known[1]}; full log: {self.plan.log_path}",
                        )
                    tail = " | ".join(self.log_tail(4))
                    raise BackendUnavailable(
                        f"{self.plan.kind} {describe_exit(code)} while starting: {tail[-400:]}",
                        hint=f"full log: {self.plan.log_path}",
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(url).status_code == 200:
                        return elapsed
                if elapsed > timeout_s:
                    self.stop()
                    raise BackendUnavailable(
                        f"{self.plan.kind} was not ready after {timeout_s:.0f} s",
                        hint=f"see {self.plan.log_path}; raise serve.startup_timeout_s",
                    )
                if progress is not None:
                    recent = self.log_tail(1)
                    progress(elapsed, recent[0] if recent else "")
                time.sleep(0.5)

    def stop(self, grace_s: float = 20.0) -> int | None:
        """SIGTERM the server's process group, SIGKILL it after ``grace_s``; the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        # Children that outlived the leader (vLLM's engine core) go with the group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        return self.process.returncode
