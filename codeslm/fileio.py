"""Reading and writing user files safely.

Every read of a file named by a user, an editor or a directory walk goes through
:func:`read_limited`: only regular files, never more than a limit, counted while reading
(``st_size`` says 0 for devices, FIFOs and ``/proc`` files, and a file may grow as it is
read). Writes are atomic, keep the file's mode, write through symbolic links, and happen only
if the file did not change under us.
"""

from __future__ import annotations

import contextlib
import difflib
import errno
import functools
import os
import stat
import tempfile
from pathlib import Path

from .errors import InputError

DEFAULT_READ_LIMIT = 8_000_000  # bytes, for reads without a configured limit
_CHUNK = 1 << 16
_KINDS = (
    (stat.S_ISDIR, "is a directory, not a file"),
    (stat.S_ISCHR, "is a character device, not a regular file"),
    (stat.S_ISBLK, "is a block device, not a regular file"),
    (stat.S_ISFIFO, "is a FIFO (named pipe), not a regular file"),
    (stat.S_ISSOCK, "is a socket, not a regular file"),
)


class NotReadable(InputError):
    """A file that :func:`read_limited` refuses; the message is one line naming it."""


class FileMissing(NotReadable):
    """The file does not exist."""


@functools.cache
def _pseudo_devices() -> frozenset[int]:
    """Device numbers of /proc and /sys: their files say 0 bytes and are generated on read."""
    devices = set()
    for root in ("/proc", "/sys"):
        with contextlib.suppress(OSError):
            devices.add(os.stat(root).st_dev)
    return frozenset(devices)


def read_limited(path: str | os.PathLike[str], max_bytes: int = DEFAULT_READ_LIMIT) -> bytes:
    """The bytes of the regular file ``path``, refusing anything else with a one-line
    :class:`NotReadable` (:class:`FileMissing` when it does not exist).

    The file is opened without blocking (a FIFO would wait for a writer) and checked on the
    open descriptor, so a path swapped between the check and the read changes nothing. More
    than ``max_bytes`` is refused as soon as the read passes the limit, whatever ``st_size``
    said.
    """
    name = os.fspath(path)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(name, flags)
    except FileNotFoundError:
        raise FileMissing(f"{name}: no such file") from None
    except IsADirectoryError:
        raise NotReadable(f"{name}: is a directory, not a file") from None
    except PermissionError:
        raise NotReadable(f"{name}: permission denied") from None
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a socket, or a FIFO opened for writing only
            raise NotReadable(f"{name}: is a socket or pipe, not a regular file") from None
        raise NotReadable(f"{name}: cannot read ({exc.strerror})") from None
    try:
        st = os.fstat(fd)
        for test, why in _KINDS:
            if test(st.st_mode):
                raise NotReadable(f"{name}: {why}")
        if not stat.S_ISREG(st.st_mode):
            raise NotReadable(f"{name}: not a regular file")
        if st.st_dev in _pseudo_devices():
            raise NotReadable(f"{name}: is a /proc or /sys pseudo-file, not a regular file")
        if st.st_size > max_bytes:
            raise NotReadable(
                f"{name}: file is too large ({st.st_size:,} bytes; the limit is {max_bytes:,})"
            )
        chunks: list[bytes] = []
        total = 0
        while True:
            try:
                chunk = os.read(fd, min(_CHUNK, max_bytes + 1 - total))
            except OSError as exc:
                raise NotReadable(f"{name}: cannot read ({exc.strerror})") from None
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:
                raise NotReadable(
                    f"{name}: file is too large (it grew past the limit of {max_bytes:,} "
                    "bytes while being read)"
                )
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_text_if_exists(path: Path, max_bytes: int = DEFAULT_READ_LIMIT) -> str | None:
    """The file's text, or None when it does not exist; InputError if it is not text."""
    try:
        data = read_limited(path, max_bytes)
    except FileMissing:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: exists and is not UTF-8 text; refusing to replace it") from None


def write_target(path: Path) -> tuple[Path, str]:
    """The file a write to ``path`` changes, and a one-line note when that is not simply
    ``path`` (empty otherwise).

    A symbolic link is written through: its target gets the new content, the link stays.
    A file with several hard links is written in place so all its names keep sharing it
    (what Vim's ``backupcopy=auto`` does); a rename would give ``path`` a new file and leave
    the other names with the old content.
    """
    if path.is_symlink():
        target = Path(os.path.realpath(path))
        return target, f"{path} is a symbolic link; writing through to {target}"
    with contextlib.suppress(OSError):
        links = path.stat().st_nlink
        if links > 1 and path.is_file():
            return path, (f"{path} has {links} hard links; it is written in place so they all "
                          "keep the new content")
    return path, ""


def unified_diff(old: str | None, new: str, path: Path, note: str = "") -> str:
    """A unified diff from ``old`` (None: the file does not exist) to ``new``; ``note`` (e.g.
    from :func:`write_target`) goes first, as a ``# codeslm:`` header line."""
    before = "/dev/null" if old is None else f"a/{path}"
    diff = "".join(
        difflib.unified_diff(
            (old or "").splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=before,
            tofile=f"b/{path}",
        )
    )
    return f"# codeslm: {note}\n{diff}" if note and diff else diff


def atomic_write(path: Path, text: str, *, expected_old: str | None) -> None:
    """Replace the content of ``path`` with ``text``.

    ``expected_old`` is the content the caller based its change on (None: the file must not
    exist). If the file changed meanwhile, nothing is written and InputError is raised. The
    file keeps its permission bits. A symbolic link is written through to its target (the
    link stays a link); the write is a rename of a complete temporary file beside the target,
    so a crash leaves either the old or the new file, never half. A file with several hard
    links is overwritten in place instead (see :func:`write_target`), after the new content is
    safely on disk in a temporary file and the space is reserved, so a full disk cannot cut
    it short.
    """
    current = read_text_if_exists(path)
    if current != expected_old:
        raise InputError(
            f"{path} changed while codeslm was working; nothing was written",
            hint="run the command again",
        )
    target = write_target(path)[0]
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise InputError(f"{directory}: no such directory; nothing was written")
    try:
        st = target.stat()
        mode = stat.S_IMODE(st.st_mode)
        links = st.st_nlink
    except FileNotFoundError:
        umask = os.umask(0)  # read the umask (there is no getter) and put it back
        os.umask(umask)
        mode = 0o666 & ~umask
        links = 0
    data = text.encode("utf-8")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".codeslm-tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        if links > 1:
            _overwrite_in_place(target, data, expected_old)
            os.unlink(tmp)
        else:
            os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def replace_file(path: Path, data: bytes) -> None:
    """Write ``data`` as the whole of ``path`` (a private record: cache, state) through a
    temporary file beside it and one rename, so a reader or a crash sees the old file or the
    new one, never half; no temporary file is left behind. The parent folder must exist.
    OSError when it cannot be written (a full disk, a read-only folder)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".codeslm-tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _overwrite_in_place(target: Path, data: bytes, old: str | None) -> None:
    """Write ``data`` over ``target``'s own inode (its hard links stay shared). The space is
    reserved first; if the write still fails, the old content is put back."""
    fd = os.open(target, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        try:
            if data:
                os.posix_fallocate(fd, 0, len(data))
        except OSError as exc:
            raise InputError(f"{target}: cannot reserve {len(data):,} bytes ({exc.strerror}); "
                             "nothing was written") from None
        try:
            _write_all(fd, data)
            os.ftruncate(fd, len(data))
            os.fsync(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                _write_all(fd, (old or "").encode("utf-8"))
                os.ftruncate(fd, len((old or "").encode("utf-8")))
            raise InputError(f"{target}: write failed ({exc.strerror}); the old content was put "
                             "back") from None
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    written = 0
    while written < len(view):
        written += os.pwrite(fd, view[written:], written)
