"""Which model of the default family fits this machine: the rule and the record `doctor` keeps.

The default model (Qwen2.5-Coder-1.5B) is right far more often than the 0.5B, and a keystroke
that needs it costs about twice as much. ``codeslm doctor`` measures the machine it runs on (free
memory, then the default model's prompt and generation speed) and records the model that fits
here. The record is a configuration layer *below* every config file, variable and flag, so a
user's own ``model`` always wins and a machine the doctor never saw keeps the default.

Only the rule and the record live here (this layer does no measuring); the doctor measures.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..fileio import replace_file

# The family's names (this layer may not import the model registry; a test keeps them equal to
# registry.DEFAULT_MODEL and registry.SMALL_MODEL).
LARGE = "qwen2.5-coder-1.5b"
SMALL = "qwen2.5-coder-0.5b"
# The size of SMALL's file (runtime.models.registry): settings sized for a model scale from it.
SMALL_FILE_BYTES = 491_400_064

# The issue-15 bar: the 1.5B is worth its cost while a model-needing keystroke stays under this.
KEYSTROKE_BAR_S = 0.6
# What such a keystroke costs in tokens with KV reuse, fitted to the two typing replays of
# benchmarks/RESULTS.md ("Issue 15, stop 18"; 0.5B 0.29 s and 1.5B 0.53 s at p50) against the
# doctor's speeds for the same models on the same machine (0.5B: 218 prompt and 41.3 generated
# tokens/s; 1.5B: 99.5 and 31.4): about 37 prompt tokens (the edit plus the refreshed tokens
# after it) and 5 generated ones.
KEYSTROKE_PROMPT_TOKENS = 37
KEYSTROKE_NEW_TOKENS = 5
# The model daemon's peak RSS per byte of Q4_K_M model file (1,353 MiB for the 1.5B's 1,117 MB
# with two editors, the CLI and a hook on it: "One daemon for two editors", RESULTS.md), and what
# the rest of the machine (editor, browser, OS) should keep on top of it.
RSS_PER_FILE_BYTE = 1.27
HEADROOM_BYTES = 1 << 30

ORIGIN = "codeslm doctor"
_FILE = "machine-fit.json"


def keystroke_seconds(prefill_tps: float, decode_tps: float) -> float:
    """Expected time of a model-needing keystroke while typing, from measured speeds."""
    return (KEYSTROKE_PROMPT_TOKENS / max(prefill_tps, 1e-6)
            + KEYSTROKE_NEW_TOKENS / max(decode_tps, 1e-6))


def memory_needed(model_bytes: int) -> int:
    """Free memory a model file of this size needs to be served here, headroom included."""
    return int(model_bytes * RSS_PER_FILE_BYTE) + HEADROOM_BYTES


@dataclass(frozen=True, slots=True)
class Fit:
    """The doctor's choice for this machine: a model name, why, and when it was measured."""

    model: str
    reason: str
    measured_at: str  # ISO date and time, local

    def origin(self) -> str:
        """How ``codeslm config show`` names this layer."""
        return f"{ORIGIN} ({self.measured_at}: {self.reason})"


def record_path() -> Path:
    from .. import paths

    return paths.data_dir() / _FILE


def read() -> Fit | None:
    """The recorded choice, or None when there is none or it cannot be read (then the default
    applies, and the next ``codeslm doctor`` writes a good record)."""
    try:
        data: Any = json.loads(record_path().read_text(encoding="utf-8"))
        fit = Fit(str(data["model"]), str(data["reason"]), str(data["measured_at"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return fit if fit.model in (LARGE, SMALL) else None


def write(fit: Fit) -> Path:
    """Record ``fit`` atomically (a crash leaves the old record or the new one, never half)."""
    path = record_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_file(path, json.dumps(asdict(fit), indent=1).encode("utf-8"))
    return path


def layer() -> tuple[str, dict[str, Any]] | None:
    """The config layer the record makes (origin, values), or None without a record."""
    fit = read()
    return None if fit is None else (fit.origin(), {"model": fit.model})


def chosen_by_doctor(origin: str) -> bool:
    """Whether a key's origin (from ``LoadedConfig.sources``) is this record."""
    return origin.startswith(ORIGIN + " (")
