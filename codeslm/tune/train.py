"""Training the LoRA: a plain torch loop over tokenized examples, within a time budget.

Contract:

- one example per step (batch 1: prompts differ in length, and a CPU gains nothing from
  padding), loss on the target tokens only (the hidden text and the end-of-text token);
- the GPU when torch sees one, else the CPU with the configured threads;
- the first steps are timed and :class:`Plan` says, before the bulk of the work, how long all
  the examples would take and how many fit in ``minutes``;
- a checkpoint (the LoRA weights, the optimizer, the position in the shuffled order) is
  written every ``checkpoint_s`` seconds and at the end, into a temporary folder renamed into
  place; :func:`train` with ``resume`` continues from it; an interruption (Ctrl-C) saves one
  first;
- the learning rate rises over ``warmup_steps``, then (``schedule = "cosine"``) falls along a
  half cosine to zero at the end of the time budget (of the planned steps when there is no
  budget): a run stopped by its budget still ends at a small rate, not in the middle of large,
  noisy one-example steps;
- ``snapshots`` (minutes into the run) save the LoRA as it is then, under
  ``work/snapshots/<m>min``, so one run gives the gain-against-minutes curve;
- running out of memory raises :class:`~codeslm.errors.ModelError` saying what to lower.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..errors import InputError, ModelError
from .examples import Example

TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
CALIBRATION_STEPS = 3


@dataclass(slots=True)
class TrainSettings:
    """What shapes a training run."""

    minutes: float = 20.0  # wall-clock budget for the steps (0 = until the epochs are done)
    epochs: float = 2.0
    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    learning_rate: float = 2e-4
    warmup_steps: int = 10
    max_seq_tokens: int = 2048  # longer examples are skipped
    seed: int = 0
    checkpoint_s: float = 120.0
    threads: int = 0  # 0 = torch's default
    # LoRA on the top this many transformer layers only (0 = all): the backward pass stops
    # at the lowest adapted layer, so a CPU step costs much less.
    layers: int = 0
    schedule: str = "cosine"  # cosine (to zero at the budget's end) | constant
    snapshots: tuple[float, ...] = ()  # minutes at which the LoRA is saved as well

    def lora(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "alpha": self.alpha,
            "dropout": self.dropout,
            "target_modules": list(TARGET_MODULES),
            "top_layers": self.layers,
        }


@dataclass(slots=True)
class Plan:
    """The estimate shown before training: seconds per step from the first steps."""

    seconds_per_step: float
    examples: int
    steps_wanted: int  # all examples for all epochs
    steps_fitting: int  # what the time budget allows

    def describe(self, minutes: float, files: int) -> str:
        """One line: what all the work would take and how much of it the budget fits."""
        need = self.steps_wanted * self.seconds_per_step / 60
        share = min(1.0, self.steps_fitting / max(1, self.steps_wanted))
        seen = min(self.examples, self.steps_fitting)
        budget = f"the {minutes:g}-minute budget" if minutes else "no time budget"
        return (
            f"{self.seconds_per_step:.2f} s per example: all {self.steps_wanted} steps "
            f"({self.examples} examples from {files} files) would take {need:.1f} min; "
            f"{budget} fits {self.steps_fitting} steps ({share:.0%}; "
            f"{seen / max(1, self.examples):.0%} of the examples seen at least once)"
        )


@dataclass(slots=True)
class Outcome:
    """What a run did."""

    steps: int
    epochs: float
    seconds: float
    final_loss: float | None
    losses: list[float] = field(default_factory=list)
    stopped: str = "done"  # done | time | interrupted
    device: str = "cpu"
    snapshots: list[Snapshot] = field(default_factory=list)


@dataclass(slots=True)
class Snapshot:
    """The LoRA saved ``minutes`` into a run (PEFT files in ``folder``), after ``step`` steps."""

    minutes: float
    step: int
    seconds: float
    folder: str
    loss: float | None  # mean of the last 20 steps' losses then

    def to_dict(self) -> dict[str, Any]:
        return {
            "minutes": self.minutes,
            "step": self.step,
            "seconds": self.seconds,
            "folder": self.folder,
            "loss": self.loss,
        }


SCHEDULES = ("cosine", "constant")


def learning_rate(settings: TrainSettings, step: int, total: int, elapsed_s: float) -> float:
    """The rate of step ``step`` (0-based): linear warm-up, then constant or a half cosine
    reaching zero when the time budget (else the ``total`` steps) is used up."""
    if settings.schedule not in SCHEDULES:
        raise InputError(f"unknown learning-rate schedule {settings.schedule!r}")
    warm = min(1.0, (step + 1) / max(1, settings.warmup_steps))
    if settings.schedule == "constant":
        return settings.learning_rate * warm
    # the budget is the horizon when there is one: the number of steps it fits is a guess
    done = elapsed_s / (settings.minutes * 60) if settings.minutes else step / max(1, total)
    progress = min(1.0, max(0.0, done))
    return settings.learning_rate * warm * 0.5 * (1.0 + math.cos(math.pi * progress))


class Reporter(Protocol):
    """Hooks the CLI implements (progress bar and notes)."""

    def note(self, message: str) -> None:
        """One line for the user."""

    def start(self, total: int, done: int) -> None:
        """Steps are about to run: ``total`` planned, ``done`` already (resumed)."""

    def step(self, done: int, total: int, loss: float) -> None:
        """A step finished."""

    def plan(self, plan: Plan) -> None:
        """The estimate from the first steps."""


def device_name() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def tokenize(
    examples: Sequence[Example], tokenizer: Any, max_tokens: int, eos: int
) -> list[tuple[list[int], int]]:
    """Each example as (token ids, prompt length); the target ends with ``eos`` (see
    :func:`codeslm.tune.examples.end_token_id`). Longer examples than ``max_tokens`` are
    dropped."""
    out = []
    for e in examples:
        prompt = tokenizer.encode(e.prompt, add_special_tokens=False)
        target = [*tokenizer.encode(e.target, add_special_tokens=False), eos]
        if len(prompt) + len(target) <= max_tokens:
            out.append((prompt + target, len(prompt)))
    return out


def quiet_transformers() -> None:
    """No weight-loading bars or deprecation chatter from the libraries: the CLI reports."""
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")
    warnings.filterwarnings("ignore", category=UserWarning, module="peft")


def load_model(folder: Path, settings: TrainSettings, checkpoint: Path | None) -> Any:
    """The base model with a trainable LoRA (fresh, or the checkpoint's)."""
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    device = device_name()
    dtype = torch.bfloat16
    if device == "cuda" and not torch.cuda.is_bf16_supported():
        dtype = torch.float16
    quiet_transformers()
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype)
    model.to(device)  # type: ignore[arg-type]  # transformers types its wrapped .to loosely
    if checkpoint is not None:
        return PeftModel.from_pretrained(model, checkpoint, is_trainable=True)
    depth = int(model.config.num_hidden_layers)
    top = list(range(depth - settings.layers, depth)) if 0 < settings.layers < depth else None
    config = LoraConfig(
        layers_to_transform=top,
        layers_pattern="layers" if top else None,
        r=settings.rank,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=list(TARGET_MODULES),
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def train(
    model: Any,
    data: Sequence[tuple[list[int], int]],
    settings: TrainSettings,
    work: Path,
    reporter: Reporter,
    *,
    resume: bool = False,
    should_stop: Callable[[], bool] = lambda: False,
) -> Outcome:
    """Train ``model`` (a PEFT model) on ``data``; checkpoints under ``work/checkpoint``."""
    import torch

    if not data:
        raise InputError("no training example fits", hint="lower the window or check the repo")
    if settings.threads:
        torch.set_num_threads(settings.threads)
    device = next(model.parameters()).device
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.learning_rate, weight_decay=0.0)
    total = max(1, math.ceil(len(data) * settings.epochs))
    state: dict[str, Any] = {"step": 0, "seconds": 0.0, "losses": [], "snapshots": []}
    checkpoint = work / "checkpoint"
    if resume and (checkpoint / "state.pt").is_file():
        saved = torch.load(checkpoint / "state.pt", weights_only=False)
        optimizer.load_state_dict(saved["optimizer"])
        state = saved["state"]
        reporter.note(f"resuming at step {state['step']} of {total}")

    def order_for(epoch: int) -> list[int]:
        idx = list(range(len(data)))
        random.Random(settings.seed * 1000 + epoch).shuffle(idx)
        return idx

    model.train()
    budget_s = settings.minutes * 60 if settings.minutes else math.inf
    started = time.monotonic() - float(state["seconds"])
    last_save = time.monotonic()
    losses: list[float] = list(state["losses"])
    step = int(state["step"])
    snapshots = [Snapshot(**d) for d in state.get("snapshots", [])]
    due = sorted(m for m in set(settings.snapshots) if all(s.minutes != m for s in snapshots))
    stopped = "done"
    reporter.start(total, step)
    timed_from = step
    timed_at = time.monotonic()
    try:
        while step < total:
            if time.monotonic() - started >= budget_s:
                stopped = "time"
                break
            if should_stop():
                stopped = "interrupted"
                break
            epoch, position = divmod(step, len(data))
            ids, prompt_len = data[order_for(epoch)[position]]
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(settings, step, total, time.monotonic() - started)
            try:
                loss = _loss(model, torch.tensor([ids], device=device), len(ids) - prompt_len)
                loss.backward()
            except torch.OutOfMemoryError:
                raise ModelError(
                    "out of memory while training",
                    hint="lower --max-seq-tokens or --rank, or use --window quick",
                ) from None
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            losses.append(round(float(loss.detach()), 4))
            reporter.step(step, total, losses[-1])
            if step - timed_from == CALIBRATION_STEPS:
                per = (time.monotonic() - timed_at) / CALIBRATION_STEPS
                left = budget_s - (time.monotonic() - started)
                fitting = min(total, step + int(left / per)) if budget_s != math.inf else total
                reporter.plan(Plan(per, len(data), total, fitting))
            elapsed = time.monotonic() - started
            while due and elapsed >= due[0] * 60:
                snapshots.append(_snapshot(model, due.pop(0), step, elapsed, losses, work))
                reporter.note(f"snapshot at {snapshots[-1].minutes:g} min: step {step}")
            if time.monotonic() - last_save >= settings.checkpoint_s:
                _save(model, optimizer, step, elapsed, losses, checkpoint, snapshots)
                last_save = time.monotonic()
    except KeyboardInterrupt:
        stopped = "interrupted"
    seconds = time.monotonic() - started
    _save(model, optimizer, step, seconds, losses, checkpoint, snapshots)
    tail = losses[-20:]
    return Outcome(
        step,
        step / len(data),
        seconds,
        sum(tail) / len(tail) if tail else None,
        losses,
        stopped,
        str(device),
        snapshots,
    )


def _snapshot(
    model: Any, minutes: float, step: int, seconds: float, losses: list[float], work: Path
) -> Snapshot:
    """Save the LoRA as it is now under ``work/snapshots`` (temporary folder, then rename)."""
    folder = work / "snapshots" / f"{minutes:g}min"
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(tmp))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    tail = losses[-20:]
    loss = round(sum(tail) / len(tail), 4) if tail else None
    return Snapshot(minutes, step, round(seconds, 1), str(folder), loss)


def _loss(model: Any, inputs: Any, targets: int) -> Any:
    """Cross-entropy on the last ``targets`` tokens only: the vocabulary projection runs for
    those positions alone (on a 150k vocabulary it costs more than the rest of a small
    model)."""
    import torch

    logits = model(input_ids=inputs, logits_to_keep=targets + 1).logits[0, :-1]
    return torch.nn.functional.cross_entropy(logits.float(), inputs[0, -targets:])


def _save(
    model: Any,
    optimizer: Any,
    step: int,
    seconds: float,
    losses: list[float],
    checkpoint: Path,
    snapshots: Sequence[Snapshot] = (),
) -> None:
    """Write the checkpoint into a temporary folder, then rename it into place."""
    import torch

    tmp = checkpoint.with_name(checkpoint.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save_pretrained(str(tmp))
    torch.save(
        {
            "optimizer": optimizer.state_dict(),
            "state": {
                "step": step,
                "seconds": seconds,
                "losses": losses,
                "snapshots": [s.to_dict() for s in snapshots],
            },
        },
        tmp / "state.pt",
    )
    (tmp / "progress.json").write_text(json.dumps({"step": step, "seconds": round(seconds, 1)}))
    old = checkpoint.with_name(checkpoint.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if checkpoint.exists():
        os.replace(checkpoint, old)
    os.replace(tmp, checkpoint)
    shutil.rmtree(old, ignore_errors=True)
