"""Write tiny but structurally valid GGUF files for tests of the model layer."""

from __future__ import annotations

import struct
from pathlib import Path


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def tiny_gguf(path: Path, *, elements: int = 64, name: str = "tiny") -> Path:
    """A GGUF v3 file with two metadata keys and one F32 tensor of ``elements`` values."""
    header = b"GGUF" + struct.pack("<IQQ", 3, 1, 2)
    header += _string("general.architecture") + struct.pack("<I", 8) + _string("llama")
    header += _string("general.name") + struct.pack("<I", 8) + _string(name)
    header += _string("t0") + struct.pack("<I", 1) + struct.pack("<Q", elements)
    header += struct.pack("<IQ", 0, 0)  # F32 at offset 0
    header += b"\0" * ((-len(header)) % 32)
    path.write_bytes(header + struct.pack(f"<{elements}f", *range(elements)))
    return path
