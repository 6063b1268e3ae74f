"""Helpers shared by the subcommands: common flags, config loading, consoles, progress."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from ..config import LoadedConfig, load_config

T = TypeVar("T")


def common_parent() -> argparse.ArgumentParser:
    """Flags every subcommand accepts (after the subcommand name)."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("model and backend")
    group.add_argument("--model", "-m", help="model name, .gguf path, or served model id")
    group.add_argument(
        "--backend", "-b", help="llama-cpp (embedded, default), vllm, llama-server, ollama, "
        "openai-compatible or fake"
    )
    group.add_argument(
        "--url", action="append", help="server URL for HTTP backends (repeat for several)"
    )
    group.add_argument("--config", help="use this config file instead of the user config")
    group.add_argument("-v", "--verbose", action="count", default=0, help="log to stderr")
    return parent


def flags_from(args: argparse.Namespace, **extra: Any) -> dict[str, Any]:
    """Dotted config keys set by the common flags (plus ``extra``)."""
    flags: dict[str, Any] = {
        "model": getattr(args, "model", None),
        "backend": getattr(args, "backend", None),
        "url": getattr(args, "url", None),
    }
    flags.update(extra)
    return {k: v for k, v in flags.items() if v is not None}


def load(args: argparse.Namespace, **extra: Any) -> LoadedConfig:
    """Load the layered config with the command line as the top layer."""
    if getattr(args, "config", None):
        os.environ["CODESLM_CONFIG"] = args.config
    return load_config(flags_from(args, **extra))


def run(coro_factory: Callable[[], Awaitable[T]]) -> T:
    """Run an async command body to completion."""

    async def main() -> T:
        return await coro_factory()

    return asyncio.run(main())


def stderr_is_tty() -> bool:
    return sys.stderr.isatty()


def color_enabled(stream: Any) -> bool:
    """Colour only on a terminal, never with NO_COLOR or TERM=dumb (FORCE_COLOR forces it)."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    if os.environ.get("TERM") in {"dumb", "unknown"}:
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


def note(message: str) -> None:
    """A diagnostic line on stderr (never on stdout, which is for results)."""
    print(message, file=sys.stderr, flush=True)


@contextmanager
def byte_progress(label: str) -> Iterator[Callable[[int, int | None], None]]:
    """A progress callback for long copies: a rich bar on a terminal, sparse lines otherwise."""
    if stderr_is_tty():  # NO_COLOR removes colour only (rich honours it), not the bar
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        with Progress(
            "[progress.description]{task.description}", BarColumn(), DownloadColumn(),
            TransferSpeedColumn(), TimeRemainingColumn(), transient=True,
            console=Console(stderr=True),
        ) as progress:
            task = progress.add_task(label, total=None)

            def update(done: int, total: int | None) -> None:
                progress.update(task, completed=done, total=total)

            yield update
        return
    last = [0.0]

    def plain(done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - last[0] >= 2.0 or (total is not None and done >= total):
            last[0] = now
            pct = f" {100 * done / total:5.1f}%" if total else ""
            note(f"{label}: {done / 1e6:,.0f} MB{pct}")

    yield plain
