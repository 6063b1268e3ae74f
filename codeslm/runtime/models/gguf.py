"""A small reader for GGUF headers: metadata and a truncation check, without loading the model.

It reads only the header (the vocabulary arrays are stepped over, not decoded), so
``codeslm doctor`` and model resolution can reject a broken file with a clear message before
llama.cpp maps it. Model resolution runs this for every command.

Hand-written on purpose, although the ``gguf`` package (llama.cpp's own) has a reader:
``gguf.GGUFReader`` builds numpy views of every field, one per vocabulary string, and imports
numpy and yaml. On the default 491 MB model it took 13.5 s (p50) against 0.28 s for this
reader before it moved onto a memory map (measured in benchmarks/RESULTS.md, "GGUF header"),
and this path runs per command. The tests check this reader against ``GGUFReader`` on the
real model, and the tensor sizes below against ``gguf.GGML_QUANT_SIZES``.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import ModelCorrupt

MAGIC = b"GGUF"

# GGUF metadata value types.
_UINT8, _INT8, _UINT16, _INT16, _UINT32, _INT32, _FLOAT32, _BOOL, _STRING, _ARRAY = range(10)
_UINT64, _INT64, _FLOAT64 = 10, 11, 12
_SCALAR = {
    _UINT8: "<B", _INT8: "<b", _UINT16: "<H", _INT16: "<h", _UINT32: "<I", _INT32: "<i",
    _FLOAT32: "<f", _BOOL: "<?", _UINT64: "<Q", _INT64: "<q", _FLOAT64: "<d",
}

# ggml tensor types -> (block size in elements, bytes per block), as in gguf's
# GGML_QUANT_SIZES (a test compares them); unknown types skip the truncation check. Q8_1 (9) is
# left out: it is never stored in model files and the sources disagree on its size.
_TYPE_SIZES = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34),
    10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210),
    15: (256, 292), 16: (256, 66), 17: (256, 74), 18: (256, 98), 19: (256, 50), 20: (32, 18),
    21: (256, 110), 22: (256, 82), 23: (256, 136), 24: (1, 1), 25: (1, 2), 26: (1, 4),
    27: (1, 8), 28: (1, 8), 29: (256, 56), 30: (1, 2), 34: (256, 54), 35: (256, 66),
    39: (32, 17),
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


_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_STRUCTS = {vtype: struct.Struct(fmt) for vtype, fmt in _SCALAR.items()}


class _Truncated(Exception):
    """The header runs past the end of the file."""


class _Reader:
    """Sequential reads over a memory map (only the header's pages are ever touched)."""

    def __init__(self, data: mmap.mmap | bytes, path: Path) -> None:
        self.data = data
        self.size = len(data)
        self.pos = 0
        self.path = path

    def _take(self, st: struct.Struct) -> object:
        if self.pos + st.size > self.size:
            raise _Truncated
        value = st.unpack_from(self.data, self.pos)[0]
        self.pos += st.size
        return value

    def u32(self) -> int:
        return int(self._take(_U32))  # type: ignore[call-overload]

    def u64(self) -> int:
        return int(self._take(_U64))  # type: ignore[call-overload]

    def string(self) -> str:
        length = self.u64()
        if length > 1 << 24:
            raise ModelCorrupt(f"{self.path} has an implausible GGUF string length")
        end = self.pos + length
        if end > self.size:
            raise _Truncated
        text = bytes(self.data[self.pos : end]).decode("utf-8", errors="replace")
        self.pos = end
        return text

    def skip_strings(self, count: int) -> None:
        """Step over ``count`` strings without decoding them (the vocabulary, the merges)."""
        data, pos, size, unpack = self.data, self.pos, self.size, _U64.unpack_from
        for _ in range(count):
            if pos + 8 > size:
                raise _Truncated
            pos += 8 + unpack(data, pos)[0]
        if pos > size:
            raise _Truncated
        self.pos = pos

    def value(self, vtype: int) -> object:
        if vtype in _STRUCTS:
            return self._take(_STRUCTS[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            item_type = self.u32()
            count = self.u64()
            if item_type in _STRUCTS:
                self.pos += _STRUCTS[item_type].size * count
                if self.pos > self.size:
                    raise _Truncated
            elif item_type == _STRING:
                self.skip_strings(count)
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
        if size < 4 or fh.read(4) != MAGIC:
            raise ModelCorrupt(
                f"{path} is not a GGUF model file (wrong magic bytes)",
                hint="point --model at a .gguf file",
            )
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
            reader = _Reader(data, path)
            reader.pos = 4
            try:
                header = _parse(reader)
            except _Truncated:
                raise ModelCorrupt(
                    f"{path} is truncated inside its GGUF header",
                    hint="delete the file and fetch it again (codeslm models pull)",
                ) from None
    if header.data_end is not None and header.data_end > size:
        raise ModelCorrupt(
            f"{path} is truncated ({size:,} bytes, its tensors need {header.data_end:,})",
            hint="delete the file and fetch it again (codeslm models pull)",
        )
    return header


def _parse(reader: _Reader) -> GgufHeader:
    version = reader.u32()
    if version < 2:
        raise ModelCorrupt(f"{reader.path} uses GGUF version {version}, which is too old")
    tensors = reader.u64()
    kv_count = reader.u64()
    header = GgufHeader(version, tensors)
    for _ in range(kv_count):
        key = reader.string()
        vtype = reader.u32()
        header.metadata[key] = reader.value(vtype)
    header.data_end = _tensor_data_end(reader, header, tensors)
    return header


def _tensor_data_end(reader: _Reader, header: GgufHeader, tensors: int) -> int | None:
    """Offset of the end of the last tensor, or None if a tensor type is unknown."""
    end_rel = 0
    known = True
    for _ in range(tensors):
        reader.string()
        n_dims = reader.u32()
        elements = 1
        for _ in range(n_dims):
            elements *= reader.u64()
        ttype = reader.u32()
        offset = reader.u64()
        if ttype not in _TYPE_SIZES:
            known = False
            continue
        block, nbytes = _TYPE_SIZES[ttype]
        end_rel = max(end_rel, offset + (elements // block) * nbytes)
    if not known:
        return None
    alignment = header.metadata.get("general.alignment", 32)
    align = int(alignment) if isinstance(alignment, int) and alignment > 0 else 32
    start = reader.pos
    start += (-start) % align
    return start + end_rel
