"""Writing user files safely: atomically, and only if they did not change under us."""

from __future__ import annotations

import contextlib
import difflib
import os
import stat
import tempfile
from pathlib import Path

from .errors import InputError


def read_text_if_exists(path: Path) -> str | None:
    """The file's text, or None when it does not exist; InputError if it is not text."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: exists and is not UTF-8 text; refusing to replace it") from None


def unified_diff(old: str | None, new: str, path: Path) -> str:
    """A unified diff from ``old`` (None: the file does not exist) to ``new``."""
    before = "/dev/null" if old is None else f"a/{path}"
    return "".join(
        difflib.unified_diff(
            (old or "").splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=before,
            tofile=f"b/{path}",
        )
    )


def atomic_write(path: Path, text: str, *, expected_old: str | None) -> None:
    """Replace ``path`` with ``text`` in one rename.

    ``expected_old`` is the content the caller based its change on (None: the file must not
    exist). If the file changed meanwhile, nothing is written and InputError is raised. The
    file keeps its permission bits; a crash leaves either the old or the new file, never half.
    """
    current = read_text_if_exists(path)
    if current != expected_old:
        raise InputError(
            f"{path} changed while codeslm was working; nothing was written",
            hint="run the command again",
        )
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise InputError(f"{directory}: no such directory; nothing was written")
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        umask = os.umask(0)  # read the umask (there is no getter) and put it back
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".codeslm-tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
