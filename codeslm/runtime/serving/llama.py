"""Launch plans for llama.cpp's servers: llama-cpp-python's OpenAI-compatible server and
llama.cpp's own ``llama-server``."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from ...config import Config, effective_threads
from ...errors import BackendUnavailable
from .plan import LLAMA_CPP, LLAMA_SERVER, LaunchPlan, log_path_for, url_for


def llamacpp_plan(config: Config, model_path: Path, model_name: str, *, port: int) -> LaunchPlan:
    """llama-cpp-python's OpenAI-compatible server for a GGUF file.

    Requests queue instead of interrupting each other (``--interrupt_requests False``), so one
    editor's request never kills another's generation; clients cancel by disconnecting.
    """
    serve = config.serve
    threads = str(effective_threads(config))
    argv = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model_path),
        "--model_alias",
        model_name,
        "--host",
        serve.host,
        "--port",
        str(port),
        "--n_ctx",
        str(config.n_ctx),
        "--n_batch",
        str(config.n_batch),
        "--n_threads",
        threads,
        "--n_threads_batch",
        threads,
        "--interrupt_requests",
        "False",
    ]
    if config.api_key:
        argv += ["--api_key", config.api_key]
    argv += list(serve.extra_args)
    # llama-cpp-python has no /health: /v1/models answers once the model is loaded.
    return LaunchPlan(
        LLAMA_CPP,
        argv,
        {},
        url_for(serve.host, port),
        "/v1/models",
        model_name,
        log_path_for(LLAMA_CPP, port),
    )


def llama_server_executable() -> str:
    found = os.environ.get("CODESLM_LLAMA_SERVER") or shutil.which("llama-server")
    if not found:
        raise BackendUnavailable(
            "llama-server (llama.cpp) is not on PATH",
            hint="install llama.cpp or set CODESLM_LLAMA_SERVER; or use "
            "`codeslm serve --backend llama-cpp` (llama-cpp-python)",
        )
    return found


def llama_server_plan(
    config: Config, model_path: Path, model_name: str, *, port: int
) -> LaunchPlan:
    """llama.cpp's own server: one slot, prompt-cache reuse, metrics on."""
    serve = config.serve
    argv = [
        llama_server_executable(),
        "-m",
        str(model_path),
        "--alias",
        model_name,
        "--host",
        serve.host,
        "--port",
        str(port),
        "-c",
        str(config.n_ctx),
        "-b",
        str(max(config.n_batch, 64)),
        "-t",
        str(effective_threads(config)),
        "--parallel",
        "1",
        "--cache-reuse",
        "256",
        "--metrics",
    ]
    if config.api_key:
        argv += ["--api-key", config.api_key]
    argv += list(serve.extra_args)
    return LaunchPlan(
        LLAMA_SERVER,
        argv,
        {},
        url_for(serve.host, port),
        "/health",
        model_name,
        log_path_for(LLAMA_SERVER, port),
    )
