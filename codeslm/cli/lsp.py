"""``codeslm lsp``: the language server, over stdio (default) or ``--tcp HOST:PORT``.

Over stdio, stdout carries the protocol and nothing else: the process's file descriptor 1 is
pointed at stderr before anything else runs (so a stray print or a C library writing to stdout
cannot corrupt the stream) and the protocol writes to a private duplicate of the original.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

from ..errors import InputError
from . import common


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "lsp",
        parents=parents,
        help="run the language server (inline completions and refactors)",
        description="Run the codeslm language server for editors: LSP over stdio (default) "
        "or TCP. Editor settings (initializationOptions, didChangeConfiguration) go above "
        "the config files and flags.",
    )
    p.add_argument("--tcp", metavar="HOST:PORT", help="listen on a TCP socket instead of stdio")
    p.add_argument("--stdio", action="store_true",
                   help="use stdin/stdout (the default; accepted for editors that pass it)")
    p.add_argument("--log-file", metavar="PATH", help="also write the log to this file")
    p.set_defaults(run=run)


def _parse_tcp(spec: str) -> tuple[str, int]:
    host, sep, port = spec.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"--tcp {spec!r} is not HOST:PORT", hint="e.g. --tcp 127.0.0.1:2087")
    return host or "127.0.0.1", int(port)


def _configure_logging(args: argparse.Namespace) -> None:
    root = logging.getLogger()
    if args.log_file:
        try:
            handler = logging.FileHandler(args.log_file, encoding="utf-8")
        except OSError as exc:
            raise InputError(f"--log-file {args.log_file}: {exc.strerror}") from None
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        if root.level > logging.INFO or root.level == logging.NOTSET:
            root.setLevel(logging.INFO)
    # pygls logs every message body at INFO; keep that for -vv only.
    logging.getLogger("pygls").setLevel(logging.DEBUG if args.verbose >= 2 else logging.WARNING)


def run(args: argparse.Namespace) -> int:
    tcp = _parse_tcp(args.tcp) if args.tcp else None
    _configure_logging(args)
    flags = common.flags_from(args)
    if getattr(args, "config", None):
        os.environ["CODESLM_CONFIG"] = args.config
    protocol_out = None
    if tcp is None:
        # Keep the real stdout for the protocol only; everything else written to fd 1 goes to
        # stderr from now on.
        protocol_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
        sys.stdout = sys.stderr
    from ..lsp.handlers import create_server
    from ..lsp.server import serve

    server = create_server(flags)
    logging.getLogger(__name__).info("codeslm lsp starting (%s)",
                                     f"tcp {tcp[0]}:{tcp[1]}" if tcp else "stdio")
    serve(server, tcp=tcp, stdout=protocol_out, stdin=sys.stdin.buffer)
    return 0
