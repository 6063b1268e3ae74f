"""Writing model files into the cache safely: streamed, hashed on the fly, renamed atomically.

A file appears under its final name only after its size and SHA-256 were checked; on any
error or interrupt the temporary file is removed, so the cache never holds a half-written
model. A small ``<file>.verified`` marker records a successful check so later runs do not hash
hundreds of megabytes again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from ...errors import ModelCorrupt

Progress = Callable[[int, int | None], None]
"""Called with (bytes done, total bytes or None) while copying."""

CHUNK = 1 << 20


def marker_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def write_verified(
    dest: Path,
    sources: Iterable[Callable[[], contextlib.AbstractContextManager[BinaryIO]]],
    *,
    expected_size: int | None,
    expected_sha256: str | None,
    progress: Progress | None = None,
    origin: str,
) -> Path:
    """Concatenate the streams opened by ``sources`` into ``dest`` atomically and verify them.

    Raises :class:`ModelCorrupt` (leaving nothing behind) on a size or hash mismatch.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
    digest = hashlib.sha256()
    done = 0
    try:
        with tmp.open("wb") as out:
            for opener in sources:
                with opener() as src:
                    while block := src.read(CHUNK):
                        out.write(block)
                        digest.update(block)
                        done += len(block)
                        if progress is not None:
                            progress(done, expected_size)
            out.flush()
            os.fsync(out.fileno())
        if expected_size is not None and done != expected_size:
            raise ModelCorrupt(
                f"{dest.name} assembled from {origin} has {done:,} bytes, expected "
                f"{expected_size:,}",
                hint="the source is incomplete or was changed; nothing was written",
            )
        sha = digest.hexdigest()
        if expected_sha256 is not None and sha != expected_sha256:
            raise ModelCorrupt(
                f"{dest.name} assembled from {origin} has SHA-256 {sha[:12]}..., expected "
                f"{expected_sha256[:12]}...",
                hint="the source does not hold the expected model; nothing was written",
            )
        os.replace(tmp, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    _write_marker(dest, sha, origin)
    return dest


def adopt_verified(
    src: Path,
    dest: Path,
    *,
    expected_size: int | None,
    expected_sha256: str | None,
    progress: Progress | None = None,
    origin: str,
) -> Path:
    """Check a file downloaded elsewhere (size and SHA-256), then move it to ``dest``.

    On a mismatch ``src`` is deleted (a fresh download is needed) and :class:`ModelCorrupt`
    raised; ``dest`` is only ever replaced by a checked file.
    """
    size = src.stat().st_size
    problem = None
    if expected_size is not None and size != expected_size:
        problem = f"has {size:,} bytes, expected {expected_size:,}"
    sha = sha256_of(src, progress)
    if problem is None and expected_sha256 is not None and sha != expected_sha256:
        problem = f"has SHA-256 {sha[:12]}..., expected {expected_sha256[:12]}..."
    if problem is not None:
        src.unlink(missing_ok=True)
        raise ModelCorrupt(
            f"{dest.name} downloaded from {origin} {problem}",
            hint="the download was damaged or the source changed; nothing was written",
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dest)
    _write_marker(dest, sha, origin)
    return dest


def _write_marker(path: Path, sha: str, origin: str) -> None:
    st = path.stat()
    marker = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha, "origin": origin}
    tmp = marker_path(path).with_suffix(".tmp")
    tmp.write_text(json.dumps(marker))
    os.replace(tmp, marker_path(path))


def read_marker(path: Path) -> dict[str, object] | None:
    """The verification marker of ``path`` if it still matches the file's size and mtime."""
    try:
        marker = json.loads(marker_path(path).read_text())
        st = path.stat()
    except (OSError, ValueError):
        return None
    if marker.get("size") != st.st_size or marker.get("mtime_ns") != st.st_mtime_ns:
        return None
    return dict(marker)


def sha256_of(path: Path, progress: Progress | None = None) -> str:
    """SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with path.open("rb") as fh:
        while block := fh.read(CHUNK):
            digest.update(block)
            done += len(block)
            if progress is not None:
                progress(done, total)
    return digest.hexdigest()


def verify_cached(
    path: Path,
    *,
    expected_size: int | None,
    expected_sha256: str | None,
    fix_hint: str,
    progress: Progress | None = None,
) -> None:
    """Check a cached file against its expected size and hash (hashing once, then trusting the
    marker). Raises :class:`ModelCorrupt` naming the file and ``fix_hint``."""
    size = path.stat().st_size
    if expected_size is not None and size != expected_size:
        raise ModelCorrupt(
            f"{path} is {size:,} bytes, expected {expected_size:,} (truncated or replaced)",
            hint=fix_hint,
        )
    marker = read_marker(path)
    if marker is not None and (expected_sha256 is None or marker.get("sha256") == expected_sha256):
        return
    if expected_sha256 is None:
        return
    sha = sha256_of(path, progress)
    if sha != expected_sha256:
        raise ModelCorrupt(
            f"{path} has SHA-256 {sha[:12]}..., expected {expected_sha256[:12]}...",
            hint=fix_hint,
        )
    _write_marker(path, sha, "verified in cache")


def iter_chunks(fh: BinaryIO) -> Iterator[bytes]:
    while block := fh.read(CHUNK):
        yield block
