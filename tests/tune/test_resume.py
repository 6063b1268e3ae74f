"""Interrupted training keeps a checkpoint, and ``resume`` goes on from it (not from zero)."""

from __future__ import annotations

from pathlib import Path

import pytest

from codeslm.tune import train
from codeslm.tune.examples import Example

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


class Recorder:
    def __init__(self) -> None:
        self.starts: list[tuple[int, int]] = []
        self.steps: list[int] = []
        self.notes: list[str] = []
        self.plans: list[train.Plan] = []

    def note(self, message: str) -> None:
        self.notes.append(message)

    def start(self, total: int, done: int) -> None:
        self.starts.append((total, done))

    def step(self, done: int, total: int, loss: float) -> None:
        self.steps.append(done)

    def plan(self, plan: train.Plan) -> None:
        self.plans.append(plan)


def test_interrupted_training_resumes_where_it_stopped(
    tiny_model: tuple[Path, Path], tmp_path: Path
) -> None:
    from transformers import AutoTokenizer

    hf, _ = tiny_model
    tokenizer = AutoTokenizer.from_pretrained(str(hf))
    examples = [
        Example(
            "a.py",
            i,
            0,
            f"<|fim_prefix|>x{i} = <|fim_suffix|>\n<|fim_middle|>",
            f"value_{i}",
            "random",
        )
        for i in range(4)
    ]
    data = train.tokenize(examples, tokenizer, 512, tokenizer.eos_token_id)
    settings = train.TrainSettings(minutes=0, epochs=2, rank=4, alpha=8, checkpoint_s=1e9)
    first = Recorder()
    model = train.load_model(hf, settings, None)
    outcome = train.train(
        model, data, settings, tmp_path, first, should_stop=lambda: len(first.steps) >= 3
    )
    assert outcome.stopped == "interrupted" and outcome.steps == 3
    assert (tmp_path / "checkpoint" / "state.pt").is_file()
    assert first.plans and first.plans[0].steps_wanted == 8  # the estimate after 3 steps

    second = Recorder()
    model = train.load_model(hf, settings, tmp_path / "checkpoint")
    outcome = train.train(model, data, settings, tmp_path, second, resume=True)
    assert second.starts == [(8, 3)]
    assert second.steps == [4, 5, 6, 7, 8]
    assert outcome.stopped == "done" and outcome.steps == 8 and len(outcome.losses) == 8


def test_layers_puts_the_adapter_on_the_top_layers_only(tiny_model: tuple[Path, Path]) -> None:
    hf, _ = tiny_model
    model = train.load_model(hf, train.TrainSettings(rank=4, layers=1), None)
    adapted = {
        n.split(".layers.")[1].split(".")[0] for n, p in model.named_parameters() if p.requires_grad
    }
    assert adapted == {"1"}  # the tiny model has layers 0 and 1
