"""The daemon process: ``python -m codeslm.backends.daemon run --spec JSON --socket PATH
--state PATH``.

Started by :func:`codeslm.backends.daemon.runtime.ensure_running`, never by hand; its stdout
and stderr go to the daemon's log file.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from .runtime import DaemonSpec
from .server import serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codeslm.backends.daemon")
    parser.add_argument("command", choices=["run"])
    parser.add_argument("--spec", required=True, help="the DaemonSpec as JSON")
    parser.add_argument("--socket", required=True, type=Path)
    parser.add_argument("--state", required=True, type=Path)
    args = parser.parse_args(argv)
    # CODESLM_LOG=debug (inherited from whoever started the daemon) logs every generation.
    debug = os.environ.get("CODESLM_LOG", "").lower() == "debug"
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return serve(DaemonSpec.from_json(args.spec), args.socket, args.state)


if __name__ == "__main__":
    sys.exit(main())
