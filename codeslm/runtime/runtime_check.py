"""Does the installed llama.cpp survive a real decode on this CPU? Asked in a subprocess.

A llama-cpp-python built natively on a CPU with AMX dies with SIGSEGV at its first decode;
in the language server or ``codeslm complete`` that is a crash with no message. So before the
embedded backend loads a model in-process, :func:`ensure_runtime_works` runs one real decode of
that model in a child process. A child killed by a signal means this build cannot run here: the
caller gets a :class:`~codeslm.errors.BackendUnavailable` naming ``codeslm setup``.

Verdicts are kept in ``~/.cache/codeslm/runtime-checks.json`` (``XDG_CACHE_HOME``), keyed by the
llama_cpp library files (path, size, mtime) and the model file, so the check costs one model
load once per build and model, not once per start. A rebuild changes the key. A probe that
fails without a signal (a bad model file, a missing package) decides nothing and is not kept:
the in-process load reports that error itself. ``CODESLM_SKIP_RUNTIME_CHECK=1`` skips it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import BackendUnavailable
from ..fileio import replace_file
from . import llama_build

log = logging.getLogger(__name__)

FIX = "codeslm setup"
PROBE_TIMEOUT_S = 300.0

# Run with ``python -c``: load the model as the embedded backend does, evaluate a prompt long
# enough to use the batched (matrix) kernels, then generate a few tokens one at a time.
PROBE = r"""
import json, sys, time
import llama_cpp
model, threads, n_batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
started = time.perf_counter()
llm = llama_cpp.Llama(model_path=model, n_ctx=512, n_threads=threads, n_threads_batch=threads,
                      n_batch=n_batch, n_gpu_layers=0, verbose=False)
loaded = time.perf_counter()
# About 200 prompt tokens: as many rows for the batched matrix kernels as a real prompt has.
body = b"".join(b"def f%d(n):\n    '''Value %d of a series.'''\n    if n < 2:\n"
                b"        return n\n    return f%d(n - 1) + %d\n\n" % (i, i, i, i)
                for i in range(6))
prompt = llm.tokenize(body + b"def fibonacci(n):\n    return ", add_bos=False)
out = []
for token in llm.generate(prompt, temp=0.0, top_k=1):
    out.append(token)
    if len(out) >= 4:
        break
print(json.dumps({"load_s": loaded - started, "decode_s": time.perf_counter() - loaded,
                  "prompt_tokens": len(prompt), "tokens": len(out),
                  "text": llm.detokenize(out).decode("utf-8", "replace"),
                  "llama_cpp": getattr(llama_cpp, "__version__", "?")}))
"""


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one probe found. ``ok`` is None when the probe decided nothing."""

    ok: bool | None
    detail: str
    signal: str | None = None
    seconds: float = 0.0

    def error(self) -> BackendUnavailable:
        return BackendUnavailable(
            f"llama.cpp crashes on this CPU ({self.detail})",
            hint=f"rebuild it for this CPU with: {FIX}",
        )


def library_dir() -> Path | None:
    """The folder of the installed llama_cpp package (found without importing it)."""
    try:
        spec = importlib.util.find_spec("llama_cpp")
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent


def runtime_key(model: Path) -> str | None:
    """Identity of (llama_cpp build, model file); None when llama_cpp is not installed."""
    folder = library_dir()
    if folder is None:
        return None
    parts = [str(folder)]
    libs = sorted(
        p for p in folder.rglob("*") if p.suffix in {".so", ".dylib", ".dll"} or ".so." in p.name
    )
    for path in libs or [folder / "__init__.py"]:
        try:
            st = path.stat()
        except OSError:
            continue
        parts.append(f"{path.name}:{st.st_size}:{st.st_mtime_ns}")
    try:
        st = model.stat()
        parts.append(f"{model.resolve()}:{st.st_size}:{st.st_mtime_ns}")
    except OSError:
        parts.append(str(model))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]


def probe(
    model: Path,
    *,
    threads: int = 2,
    n_batch: int = 512,
    python: str | None = None,
    code: str = PROBE,
    timeout: float = PROBE_TIMEOUT_S,
) -> Verdict:
    """Run one real decode of ``model`` in a child process and classify how it ended."""
    cmd = [python or sys.executable, "-c", code, str(model), str(threads), str(n_batch)]
    started = time.perf_counter()
    try:
        result = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        return Verdict(None, f"no answer in {timeout:.0f} s", seconds=timeout)
    except OSError as exc:
        return Verdict(None, f"cannot start {cmd[0]} ({exc})")
    seconds = time.perf_counter() - started
    if result.returncode < 0:
        name = _signal_name(-result.returncode)
        return Verdict(
            False,
            f"a test decode of {model.name} was killed by {name}",
            signal=name,
            seconds=seconds,
        )
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return Verdict(None, f"the test decode failed: {last}", seconds=seconds)
    try:
        facts = json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return Verdict(None, "the test decode printed no result", seconds=seconds)
    return Verdict(
        True,
        f"llama-cpp-python {facts['llama_cpp']}: {facts['prompt_tokens']}-token "
        f"prompt and {facts['tokens']} generated tokens in "
        f"{facts['decode_s']:.2f} s (model load {facts['load_s']:.2f} s)",
        seconds=seconds,
    )


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _store() -> Path:
    # Beside the built wheels, not under CODESLM_HOME: the verdict is about this machine's
    # llama_cpp build, which every home (and every test's private home) shares.
    return llama_build.wheel_cache().parent / "runtime-checks.json"


def _read_store() -> dict[str, dict[str, object]]:
    try:
        data = json.loads(_store().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def cached(model: Path) -> Verdict | None:
    """The kept verdict for the installed build and ``model``, if there is one."""
    key = runtime_key(model)
    entry = _read_store().get(key or "")
    if not isinstance(entry, dict):
        return None
    try:
        return Verdict(**entry)  # type: ignore[arg-type]
    except TypeError:
        return None


def remember(model: Path, verdict: Verdict) -> None:
    """Keep a deciding verdict (ok or crashed); failures that decide nothing are not kept."""
    key = runtime_key(model)
    if key is None or verdict.ok is None:
        return
    data = _read_store()
    data[key] = asdict(verdict)
    try:
        path = _store()
        path.parent.mkdir(parents=True, exist_ok=True)
        # readers see the old file or the new one, never half
        replace_file(path, (json.dumps(data, indent=1, sort_keys=True) + "\n").encode())
    except OSError as exc:  # a read-only cache only costs a probe at the next start
        log.info("runtime verdict not kept: %s", exc)


def check(model: Path, *, threads: int = 2, n_batch: int = 512, fresh: bool = False) -> Verdict:
    """The verdict for ``model`` on the installed build: kept, or probed now and kept."""
    if not fresh:
        known = cached(model)
        if known is not None:
            return known
    verdict = probe(model, threads=threads, n_batch=n_batch)
    remember(model, verdict)
    return verdict


def ensure_runtime_works(model: Path, *, threads: int = 2, n_batch: int = 512) -> None:
    """Raise BackendUnavailable (naming ``codeslm setup``) if llama.cpp crashes here."""
    if os.environ.get("CODESLM_SKIP_RUNTIME_CHECK", "") not in {"", "0"}:
        return
    verdict = check(model, threads=threads, n_batch=n_batch)
    if verdict.ok is False:
        raise verdict.error()
    if verdict.ok is None:
        # Not a crash (a model that does not load, a timeout): the load that follows reports
        # its own one-line error, so this is only worth a line in the log.
        log.info("runtime check inconclusive (%s); loading anyway", verdict.detail)
