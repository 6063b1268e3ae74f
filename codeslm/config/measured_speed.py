"""The local model's speed on this machine, as ``codeslm doctor`` last measured it.

A command that must finish by a deadline (the commit-message hook: ``git.timeout_s``) sizes its
prompt from these figures: how many prompt tokens the time left can evaluate, after the answer's
own generation. The doctor measures (two real cold prompts, the faster kept); where it never ran
(``codeslm setup``, a model the doctor did not measure) the hook's own first answer is recorded
instead (:func:`learn`), and the doctor's next measurement replaces it. One entry per model
name, in ``<data dir>/measured-speed.json``.

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
from ..types import Usage

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


# A generation shorter than this says more about fixed costs than about speed.
_MIN_LEARN_PROMPT_TOKENS = 32
_MIN_LEARN_NEW_TOKENS = 4


def from_usage(usage: Usage) -> tuple[float, float] | None:
    """(prefill, decode) tokens per second of one finished generation, from its accounting;
    None when a timing is missing or it evaluated or generated too little to tell."""
    if usage.prompt_tokens is None or usage.completion_tokens is None:
        return None
    if usage.time_to_first_token_s is None or usage.total_s is None:
        return None
    evaluated = usage.prompt_tokens - (usage.cached_prompt_tokens or 0)
    generated = usage.completion_tokens - 1  # the first token's time is in the prefill's
    decode_s = usage.total_s - usage.time_to_first_token_s
    if evaluated < _MIN_LEARN_PROMPT_TOKENS or generated < _MIN_LEARN_NEW_TOKENS:
        return None
    if usage.time_to_first_token_s <= 0 or decode_s <= 0:
        return None
    return evaluated / usage.time_to_first_token_s, generated / decode_s


def learn(model: str, usage: Usage) -> bool:
    """Record ``model``'s speed from one real generation when nothing is recorded for it yet
    (a measurement, the doctor's or an earlier one, is never replaced by this). Whether it
    was recorded; a data directory that cannot be written only loses the record."""
    if read(model) is not None:
        return False
    speed = from_usage(usage)
    if speed is None:
        return False
    try:
        write(model, *speed)
    except OSError:
        return False
    return True


def _entries() -> dict[str, Any]:
    try:
        data = json.loads(record_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
