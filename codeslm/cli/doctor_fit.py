"""``codeslm doctor``'s choice of model for this machine (the rule and record are
:mod:`codeslm.config.machine_fit`).

Only a model nobody chose is decided: the built-in default, or an earlier choice of the doctor's.
A ``model`` in a config file, a ``CODESLM_MODEL`` or ``--model`` is left alone, as is any
backend but the local llama.cpp one (a server's model is the server's business).

First free memory (no model loaded): too little for the 1.5B, and the 0.5B is recorded at once.
Otherwise the run's checks measure the 1.5B, and the expected time of a keystroke that needs
the model decides: at most ``KEYSTROKE_BAR_S`` keeps the 1.5B, more records the 0.5B.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

from ..config import DEFAULT_SOURCE, Config, LoadedConfig, machine_fit
from .doctor_checks import Check, Speed

_GIB = float(1 << 30)


@dataclass(frozen=True, slots=True)
class FitPlan:
    """What this doctor run does about the machine fit: the config its checks use, lines to
    print first, and whether the speed measured by the checks decides the model."""

    config: Config
    notes: tuple[Check, ...] = ()
    decides: bool = False


def plan(loaded: LoadedConfig, *, refit: bool, speed: bool) -> FitPlan:
    """Decide what to measure; records the small model at once when memory rules out the
    large one."""
    config = loaded.config
    source = loaded.sources.get("model", DEFAULT_SOURCE)
    if config.backend != "llama-cpp":
        return FitPlan(config)
    if source != DEFAULT_SOURCE and not machine_fit.chosen_by_doctor(source):
        return FitPlan(config, (Check("fit", None, f"model {config.model} set by {source}"),))
    earlier = machine_fit.read()
    if earlier is not None and not refit:
        return FitPlan(config, (Check("fit", None, f"{earlier.model} chosen for this machine "
                                      f"on {earlier.measured_at} ({earlier.reason}); `codeslm "
                                      "doctor --refit` measures again"),))
    large = dataclasses.replace(config, model=machine_fit.LARGE)
    memory = _memory_verdict()
    if memory is not None:
        recorded = _record(machine_fit.SMALL, memory)
        small = dataclasses.replace(config, model=machine_fit.SMALL)
        return FitPlan(small, (_announce(recorded, chosen=True),))
    return FitPlan(large, decides=speed)


def decide(speed: Speed) -> Check:
    """Record the model that fits, from the large model's measured speed."""
    seconds = machine_fit.keystroke_seconds(speed.prefill_tps, speed.decode_tps)
    bar = machine_fit.KEYSTROKE_BAR_S
    if seconds <= bar:
        fit = _record(machine_fit.LARGE, f"~{seconds:.2f} s per keystroke that needs the "
                      f"model, bar {bar} s")
        return _announce(fit, chosen=False)
    fit = _record(machine_fit.SMALL, f"the 1.5B would take ~{seconds:.2f} s per keystroke "
                  f"that needs the model, bar {bar} s")
    return _announce(fit, chosen=True)


def small_recorded() -> bool:
    """Whether this machine's record (what a config without a model now uses) is the small
    model, as :func:`decide` or the memory check may have written."""
    fit = machine_fit.read()
    return fit is not None and fit.model == machine_fit.SMALL


def _memory_verdict() -> str | None:
    """Why memory rules out the large model, or None when it fits or cannot be read."""
    from ..runtime.models.registry import find_spec
    from ..runtime.serving.machine import available_memory_gib

    spec = find_spec(machine_fit.LARGE)
    available = available_memory_gib()
    if spec is None or spec.size is None or available is None:
        return None
    needed = machine_fit.memory_needed(spec.size) / _GIB
    if available >= needed:
        return None
    return f"{available:.1f} GiB of memory free, the 1.5B needs about {needed:.1f}"


def _record(model: str, reason: str) -> tuple[machine_fit.Fit, str | None]:
    """The choice, written down; with why it could not be (a read-only or full disk)."""
    fit = machine_fit.Fit(model, reason, time.strftime("%Y-%m-%d %H:%M"))
    try:
        machine_fit.write(fit)
    except OSError as exc:
        return fit, f"{machine_fit.record_path()}: {exc.strerror or exc}"
    return fit, None


def _announce(recorded: tuple[machine_fit.Fit, str | None], *, chosen: bool) -> Check:
    fit, error = recorded
    if error is not None:
        return Check("fit", False, f"{fit.model} fits this machine ({fit.reason}), but the "
                     f"choice could not be recorded ({error}); set `model = \"{fit.model}\"` "
                     "in your config instead")
    if not chosen:
        return Check("fit", True, f"{fit.model} fits this machine ({fit.reason})")
    return Check("fit", None, f"this machine is too small for {machine_fit.LARGE} ({fit.reason}): "
                 f"codeslm uses {fit.model} from now on (a `model` in your config wins; fetch it "
                 f"with `codeslm models pull {fit.model}` if it is missing)")
