"""NO_COLOR removes colour only: a terminal still gets the progress bar, on stderr."""

from __future__ import annotations

import os
import pty
import re
import subprocess
from pathlib import Path

from tests.conftest import codeslm_command

SGR_COLOUR = re.compile(rb"\x1b\[[0-9;]*m")  # select-graphic-rendition: colours, bold, dim
BAR = "━".encode()


def _index_on_a_terminal(root: Path, **env: str) -> tuple[bytes, str]:
    """Run ``codeslm index`` with stderr on a pseudo-terminal; (stderr bytes, stdout)."""
    primary, secondary = pty.openpty()
    environ = {k: v for k, v in os.environ.items() if k not in {"NO_COLOR", "FORCE_COLOR"}}
    environ.update(env, TERM="xterm-256color", COLUMNS="100")
    try:
        done = subprocess.run([*codeslm_command(), "index", str(root)], env=environ,
                              stdout=subprocess.PIPE, stderr=secondary, timeout=120)
    finally:
        os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the terminal's other side is closed: all read
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(primary)
    assert done.returncode == 0
    return b"".join(chunks), done.stdout.decode()


def test_no_color_keeps_the_bar_and_drops_the_colour(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    for i in range(3):
        (root / f"m{i}.py").write_text(f"def f{i}():\n    return {i}\n")
    plain, out = _index_on_a_terminal(root, NO_COLOR="1")
    assert BAR in plain and b"indexing ws" in plain
    assert not SGR_COLOUR.search(plain)
    assert out.startswith(f"indexed {root}") and BAR.decode() not in out  # results stay clean
    coloured, _ = _index_on_a_terminal(root)
    assert BAR in coloured and SGR_COLOUR.search(coloured)  # the check above can fail
