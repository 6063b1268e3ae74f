"""A small reader for GGUF headers: metadata and a truncation check, without loading the model.

It reads only the header (a few MB at most for the vocabulary arrays, which are skipped), so
``codeslm doctor`` and model resolution can reject a broken file with a clear message before
llama.cpp maps it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ..errors import ModelCorrupt

MAGIC = b"GGUF"

# GGUF metadata value types.
_UINT8, _INT8, _UINT16, _INT16, _UINT32, _INT32, _FLOAT32, _BOOL, _STRING, _ARRAY = range(10)
_UINT64, _INT64, _FLOAT64 = 10, 11, 12
_SCALAR = {
    _UINT8: "<B", _INT8: "<b", _UINT16: "<H", _INT16: "<h", _UINT32: "<I", _INT32: "<i",
    _FLOAT32: "<f", _BOOL: "<?", _UINT64: "<Q", _INT64: "<q", _FLOAT64: "<d",
}

# ggml tensor types -> (block size in elements, bytes per block); unknown types skip the check.
_TYPE_SIZES = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34),
    9: (32, 36), 10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210),
    15: (256, 292), 24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8), 30: (1, 2),
}


@dataclass(slots=True)
class GgufHeader:
    """What the header says: metadata scalars and strings (arrays only as their length)."""

    version: int
    tensor_count: int
    metadata: dict[str, object] = field(default_factory=dict)
    data_end: int | None = None  # byte offset where the last tensor ends, when computable

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", "unknown"))

    @property
    def name(self) -> str:
        return str(self.metadata.get("general.name", "unknown"))

    @property
    def context_length(self) -> int | None:
        value = self.metadata.get(f"{self.architecture}.context_length")
        return int(value) if isinstance(value, int) else None


class _Reader:
    def __init__(self, fh: BinaryIO, path: Path) -> None:
        self.fh = fh
        self.path = path

    def read(self, n: int) -> bytes:
        data = self.fh.read(n)
        if len(data) != n:
            raise ModelCorrupt(
                f"{self.path} is truncated inside its GGUF header",
                hint="delete the file and fetch it again (codeslm models pull)",
            )
        return data

    def unpack(self, fmt: str) -> object:
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        length = int(self.unpack("<Q"))  # type: ignore[call-overload]
        if length > 1 << 24:
            raise ModelCorrupt(f"{self.path} has an implausible GGUF string length")
        return self.read(length).decode("utf-8", errors="replace")

    def value(self, vtype: int) -> object:
        if vtype in _SCALAR:
            return self.unpack(_SCALAR[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            item_type = int(self.unpack("<I"))  # type: ignore[call-overload]
            count = int(self.unpack("<Q"))  # type: ignore[call-overload]
            if item_type in _SCALAR:
                self.fh.seek(struct.calcsize(_SCALAR[item_type]) * count, 1)
            else:
                for _ in range(count):
                    self.value(item_type)
            return count
        raise ModelCorrupt(f"{self.path} has an unknown GGUF value type {vtype}")


def read_header(path: Path) -> GgufHeader:
    """Parse the GGUF header of ``path``; raise :class:`ModelCorrupt` if it is not valid GGUF."""
    try:
        size = path.stat().st_size
        fh = path.open("rb")
    except OSError as exc:
        raise ModelCorrupt(f"{path}: cannot read ({exc.strerror})") from None
    with fh:
        reader = _Reader(fh, path)
        if fh.read(4) != MAGIC:
            raise ModelCorrupt(
                f"{path} is not a GGUF model file (wrong magic bytes)",
                hint="point --model at a .gguf file",
            )
        version = int(reader.unpack("<I"))  # type: ignore[call-overload]
        if version < 2:
            raise ModelCorrupt(f"{path} uses GGUF version {version}, which is too old")
        tensors = int(reader.unpack("<Q"))  # type: ignore[call-overload]
        kv_count = int(reader.unpack("<Q"))  # type: ignore[call-overload]
        header = GgufHeader(version, tensors)
        for _ in range(kv_count):
            key = reader.string()
            vtype = int(reader.unpack("<I"))  # type: ignore[call-overload]
            header.metadata[key] = reader.value(vtype)
        header.data_end = _tensor_data_end(reader, header, tensors)
    if header.data_end is not None and header.data_end > size:
        raise ModelCorrupt(
            f"{path} is truncated ({size:,} bytes, its tensors need {header.data_end:,})",
            hint="delete the file and fetch it again (codeslm models pull)",
        )
    return header


def _tensor_data_end(reader: _Reader, header: GgufHeader, tensors: int) -> int | None:
    """Offset of the end of the last tensor, or None if a tensor type is unknown."""
    end_rel = 0
    known = True
    for _ in range(tensors):
        reader.string()
        n_dims = int(reader.unpack("<I"))  # type: ignore[call-overload]
        elements = 1
        for _ in range(n_dims):
            elements *= int(reader.unpack("<Q"))  # type: ignore[call-overload]
        ttype = int(reader.unpack("<I"))  # type: ignore[call-overload]
        offset = int(reader.unpack("<Q"))  # type: ignore[call-overload]
        if ttype not in _TYPE_SIZES:
            known = False
            continue
        block, nbytes = _TYPE_SIZES[ttype]
        end_rel = max(end_rel, offset + (elements // block) * nbytes)
    if not known:
        return None
    alignment = header.metadata.get("general.alignment", 32)
    align = int(alignment) if isinstance(alignment, int) and alignment > 0 else 32
    start = reader.fh.tell()
    start += (-start) % align
    return start + end_rel
