"""The local model's speed on this machine, as ``codeslm doctor`` last measured it.

A command that must finish by a deadline (the commit-message hook: ``git.timeout_s``) sizes its
prompt from these figures: how many prompt tokens the time left can evaluate, after the answer's
own generation. Only the doctor measures (two real cold prompts, the faster kept); this module
only keeps the figures, one entry per model name, in ``<data dir>/measured-speed.json``.

The figures are for the local llama.cpp backend (in-process or the daemon) on this machine. A
missing, unreadable or foreign record reads as "unknown", and the caller keeps its fixed sizes.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..fileio import replace_file

_FILE = "measured-speed.json"
_MAX_MODELS = 8  # a few models per machine; the oldest entries go first


@dataclass(frozen=True, slots=True)
class MeasuredSpeed:
    """Prompt evaluation and generation speed of one model, in tokens per second."""

    prefill_tps: float
    decode_tps: float
    measured_at: str  # ISO date and time, local

    def seconds_for(self, prompt_tokens: int, new_tokens: int) -> float:
        """Expected time to evaluate ``prompt_tokens`` and then generate ``new_tokens``."""
        return prompt_tokens / self.prefill_tps + new_tokens / self.decode_tps


def record_path() -> Path:
    from .. import paths

    return paths.data_dir() / _FILE


def read(model: str) -> MeasuredSpeed | None:
    """The last measured speed of ``model`` (a registry name), or None when unknown."""
    entry = _entries().get(model)
    if not isinstance(entry, dict):
        return None
    try:
        speed = MeasuredSpeed(
            float(entry["prefill_tps"]), float(entry["decode_tps"]), str(entry["measured_at"])
        )
    except (KeyError, TypeError, ValueError):
        return None
    return speed if speed.prefill_tps > 0 and speed.decode_tps > 0 else None


def write(model: str, prefill_tps: float, decode_tps: float) -> Path:
    """Record ``model``'s speed (replacing its earlier entry) atomically: a crash leaves the
    old record or the new one. OSError when the data directory cannot be written."""
    entries = {k: v for k, v in _entries().items() if k != model}
    entries[model] = asdict(
        MeasuredSpeed(round(prefill_tps, 1), round(decode_tps, 2), time.strftime("%Y-%m-%d %H:%M"))
    )
    kept = dict(list(entries.items())[-_MAX_MODELS:])
    path = record_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_file(path, json.dumps(kept, indent=1).encode("utf-8"))
    return path


def _entries() -> dict[str, Any]:
    try:
        data = json.loads(record_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
