"""``codeslm serve``: run a model server that editors and commands share.

``codeslm serve status``, ``stop`` and ``start`` manage the per-user model daemon instead (the
one the default ``llama-cpp`` backend starts on first use; see :mod:`codeslm.backends.daemon`).

``--backend vllm`` starts ``vllm serve`` on a GPU; ``--backend llama-cpp`` (the default) starts
llama-cpp-python's OpenAI-compatible server on the embedded GGUF model; ``--backend
llama-server`` starts llama.cpp's own server when it is installed. The server binds to
127.0.0.1, logs to a file, is waited for until healthy, gets a FIM self-test, and is stopped
cleanly on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib.util
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import Any

from ..backends.served_fim import self_test
from ..config import Config
from ..errors import BackendUnavailable, CodeslmError, ConfigError, ModelNotFound
from ..runtime import serving, vllm_env
from ..session import open_session
from . import common


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "serve",
        parents=parents,
        help="run a shared model server (vLLM on a GPU, llama.cpp on a CPU)",
        description="Start a model server for editors and commands to share, wait until it "
        "is healthy, and stop it cleanly on Ctrl-C or SIGTERM. --backend vllm needs vLLM "
        "(pip install 'codeslm[vllm]') and a GPU; --backend llama-cpp (default) serves the "
        "GGUF model with llama-cpp-python. Arguments after -- go to the server. "
        "`codeslm serve status|stop|start` shows, stops or starts the per-user model daemon "
        "that commands, hooks and the language server share by default.",
        epilog="examples:\n  codeslm serve status        # the daemon's pid, model, memory, "
        "reuse\n  codeslm serve stop          # stop every daemon of this user\n"
        "  codeslm serve --backend vllm --model Qwen/Qwen2.5-Coder-1.5B",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default serve.port; 0 = any free port)")
    p.add_argument(
        "--ngram",
        dest="ngram",
        action="store_true",
        default=None,
        help="vLLM: n-gram speculative decoding",
    )
    p.add_argument(
        "--no-ngram", dest="ngram", action="store_false", help="vLLM: no speculative decoding"
    )
    p.add_argument(
        "--no-gpu-check",
        action="store_true",
        help="vLLM: start even when no GPU is found (CPU/TPU builds of vLLM)",
    )
    p.add_argument(
        "--lora",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="vLLM: serve a LoRA adapter (a PEFT folder) as model NAME; repeat for several. A "
        'repository picks its adapter with model = "NAME" in its .codeslm.toml',
    )
    p.add_argument("--no-self-test", action="store_true", help="skip the FIM self-test")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the server command and environment, start nothing",
    )
    p.add_argument("server_args", nargs=argparse.REMAINDER, help="extra server arguments, after --")
    p.set_defaults(run=run)


def _plan(
    config: Config,
    kind: str,
    port: int,
    *,
    dry_run: bool,
    gpu_check: bool,
    loras: list[tuple[str, Path]] | None = None,
) -> serving.LaunchPlan:
    if kind == serving.VLLM:
        return _vllm_plan(config, port, dry_run=dry_run, gpu_check=gpu_check, loras=loras)
    from ..runtime.models.resolve import resolve

    resolved = resolve(config.model)
    if kind == serving.LLAMA_SERVER:
        return serving.llama_server_plan(config, resolved.path, resolved.name, port=port)
    missing = [
        m
        for m in ("fastapi", "uvicorn", "sse_starlette", "starlette_context", "pydantic_settings")
        if importlib.util.find_spec(m) is None
    ]
    if missing:
        raise BackendUnavailable(
            f"llama-cpp-python's server is not installed (missing {', '.join(missing)})",
            hint="pip install 'codeslm[server]'",
        )
    return serving.llamacpp_plan(config, resolved.path, resolved.name, port=port)


def _vllm_plan(
    config: Config,
    port: int,
    *,
    dry_run: bool,
    gpu_check: bool,
    loras: list[tuple[str, Path]] | None = None,
) -> serving.LaunchPlan:
    """The vLLM launch: which vLLM (GPU build here, or the CPU build in its own environment),
    and the model in a form it loads (a known model's GGUF converted offline, a hub id
    downloaded, a folder as it is)."""
    from ..runtime.models import hf_form
    from ..runtime.models.registry import find_spec

    install = vllm_env.find()
    executable: list[str] | None = None
    if install is None:
        try:
            executable = serving.vllm_executable()  # a `vllm` on PATH; else: not installed
        except BackendUnavailable:
            if not dry_run:
                raise
            executable = ["vllm"]
    if (install is None or not install.cpu) and gpu_check and not dry_run:
        common.note(f"GPU: {serving.find_gpu()}")
    spec = find_spec(config.model)
    model, served_name = config.model, None
    if spec is not None and install is not None:
        # A known model, served under its codeslm name: on the CPU build its own GGUF converted
        # (offline, cached; the CPU build reads no GGUF); on a GPU the original checkpoint from
        # the hub, or the converted GGUF when the hub cannot be reached.
        served_name = spec.name
        original = serving.vllm_model_id(spec.name)
        if dry_run:
            model = original if not install.cpu else str(hf_form.folder_for(spec.name))
        elif install.cpu:
            model = str(hf_form.convert(spec.name, install.python, log=common.note))
        else:
            try:
                model = str(hf_form.from_hub(original, log=common.note))
            except ModelNotFound as exc:
                common.note(f"{exc}; converting the GGUF instead")
                model = str(hf_form.convert(spec.name, install.python, log=common.note))
    elif hf_form.is_hub_id(config.model) and not dry_run:
        model = str(hf_form.from_hub(config.model, log=common.note))
        served_name = config.model
    return serving.vllm_plan(
        config,
        model,
        port=port,
        executable=executable,
        install=install,
        served_name=served_name,
        loras=loras,
    )


class _Terminated(Exception):
    """SIGTERM or SIGHUP arrived."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise _Terminated


DAEMON_ACTIONS = ("status", "stop", "start")


def _port(host: str, port: int, *, dry_run: bool) -> int:
    """The port to serve on: any free one for 0, else ``port`` once it is known to be free (a
    dry run binds nothing, so it checks nothing)."""
    if port == 0:
        return serving.free_port(host)
    if not dry_run:
        serving.check_port(host, port)
    return port


def run(args: argparse.Namespace) -> int:
    extra = list(args.server_args or [])
    if extra and extra[0] in DAEMON_ACTIONS:
        return _daemon_action(args, extra[0], extra[1:])
    if extra and extra[0] == "--":
        extra = extra[1:]
    flags: dict[str, Any] = {
        "serve.host": args.host,
        "serve.port": args.port,
        "serve.speculative_ngram": args.ngram,
    }
    config = common.load(args, **{k: v for k, v in flags.items() if v is not None}).config
    if extra:
        config.serve.extra_args = [*config.serve.extra_args, *extra]
    kind = config.backend
    if kind not in serving.MANAGED:
        raise ConfigError(
            f"codeslm serve runs vllm, llama-cpp or llama-server, not {kind!r}",
            hint="pass --backend vllm (GPU) or --backend llama-cpp (CPU); an Ollama or other "
            "server is started by its own tools",
        )
    host = config.serve.host
    port = _port(host, config.serve.port, dry_run=args.dry_run)
    if args.lora and kind != serving.VLLM:
        raise ConfigError("--lora needs --backend vllm (vLLM serves LoRA adapters per request)")
    loras = [serving.parse_lora(value) for value in args.lora]
    plan = _plan(
        config, kind, port, dry_run=args.dry_run, gpu_check=not args.no_gpu_check, loras=loras
    )
    if args.dry_run:
        for name, value in plan.env.items():
            print(f"{name}={shlex.quote(value)}")
        print(shlex.join(plan.argv))
        return 0
    if host not in {"127.0.0.1", "localhost", "::1"}:
        common.note(
            f"warning: listening on {host}: anyone who can reach it can use the model"
            + ("" if config.api_key else " (no api_key set)")
        )
    for line in plan.notes:
        common.note(line)
    server = serving.ManagedServer(plan)
    # SIGHUP too: a closed terminal must not leave the model server running on its own.
    previous = {sig: signal.signal(sig, _on_sigterm) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        return _serve(server, plan, config, self_check=not args.no_self_test)
    except (KeyboardInterrupt, _Terminated):
        common.note("stopping...")
        code = server.stop()
        how = "cleanly" if code in (0, -signal.SIGTERM) else serving.describe_exit(code)
        common.note(f"stopped {plan.kind} ({how})")
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if server.running():
            server.stop()


def _serve(
    server: serving.ManagedServer, plan: serving.LaunchPlan, config: Config, *, self_check: bool
) -> int:
    common.note(f"starting {plan.kind} for {plan.model} (log: {plan.log_path})")
    server.start()
    last = [0.0]

    def progress(elapsed: float, line: str) -> None:
        if elapsed - last[0] >= 5.0:
            last[0] = elapsed
            shown = serving.log_line_summary(line)
            common.note(f"  waiting for {plan.kind}: {elapsed:.0f} s  {shown[:100]}")

    took = server.wait_ready(config.serve.startup_timeout_s, progress)
    print(
        f"ready: {plan.url} ({plan.kind}, model {plan.model}, pid {server.pid}, "
        f"started in {took:.1f} s)",
        flush=True,
    )
    print(
        f"use it: codeslm complete --backend {plan.client_backend} --url {plan.url} FILE:LINE:COL",
        flush=True,
    )
    if self_check:
        _self_test(config, plan)
    common.note("serving; Ctrl-C to stop")
    assert server.process is not None
    while True:
        code = server.process.poll()
        if code is not None:
            tail = " | ".join(server.log_tail(4))
            raise BackendUnavailable(
                f"{plan.kind} {serving.describe_exit(code)}: {tail[-400:]}",
                hint=f"full log: {plan.log_path}",
            )
        time.sleep(0.5)


def _self_test(config: Config, plan: serving.LaunchPlan) -> None:
    """Detect the served model's FIM format through the client backend and fill a test hole."""
    client_config = dataclasses.replace(config, backend=plan.client_backend, url=[plan.url])

    async def check() -> str:
        async with open_session(client_config) as session:
            backend = session.backend
            fmt, how = await backend.detected_fim_format()  # type: ignore[attr-defined]
            result = await self_test(backend, fmt)
        mark = "ok" if result.ok else "PROBLEM"
        return f"FIM self-test: {mark}: {result.detail} (format {how})"

    try:
        common.note(asyncio.run(check()))
    except CodeslmError as exc:
        common.note(f"FIM self-test: could not run: {exc}")
    sys.stderr.flush()


def _daemon_action(args: argparse.Namespace, action: str, rest: list[str]) -> int:
    """``serve status|stop|start``: the per-user model daemon (exit 1 from ``status`` when
    none runs)."""
    from ..backends.daemon import runtime
    from ..backends.daemon.client import describe

    if rest:
        raise ConfigError(f"serve {action} takes no arguments (got {' '.join(rest)})")
    if not runtime.supported():
        raise ConfigError("the model daemon needs Unix sockets, which this platform lacks")
    if action == "stop":
        stopped = [files for files, _ in runtime.running() if runtime.stop(files)]
        print(f"stopped {len(stopped)} model daemon(s)" if stopped else "no model daemon runs")
        return 0
    config = common.load(args).config
    if action == "start":
        from ..runtime.models.resolve import resolve

        resolved = resolve(config.model)  # what a completion's daemon would serve
        spec = runtime.DaemonSpec.from_config(config, resolved.path, resolved.name)
        started = time.perf_counter()
        files = runtime.ensure_running(spec, timeout_s=config.daemon.start_timeout_s)
        hello = runtime.ping(files) or {}
        print(
            f"model daemon ready: pid {hello.get('pid')}, {hello.get('model')} "
            f"({time.perf_counter() - started:.1f} s), socket {files.socket}"
        )
        return 0
    found = runtime.running()
    if not found:
        print("no model daemon runs (the first completion starts one)")
        return 1
    for files, _hello in found:
        try:
            status = runtime.call(files.socket, {"op": "status"}).get("status", {})
        except (OSError, CodeslmError) as exc:
            print(f"{files.socket}: not answering ({exc})")
            continue
        print(describe(status, files))
    return 0
