"""The learning-rate schedule and the snapshots of a run (the gain-against-minutes curve)."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest

from codeslm.errors import InputError
from codeslm.tune import store, train
from codeslm.tune.examples import Example


def test_cosine_warms_up_then_reaches_zero_at_the_end_of_the_budget() -> None:
    s = train.TrainSettings(minutes=10, learning_rate=1e-3, warmup_steps=10)
    assert train.learning_rate(s, 0, 500, 0.0) == pytest.approx(1e-4)  # warm-up: 1/10
    assert train.learning_rate(s, 9, 500, 1.0) == pytest.approx(1e-3, rel=1e-4)
    # the horizon is the time budget, not the planned steps
    assert train.learning_rate(s, 20, 500, 300.0) == pytest.approx(5e-4)
    assert train.learning_rate(s, 21, 500, 600.0) == pytest.approx(0.0, abs=1e-12)
    assert train.learning_rate(s, 22, 500, 900.0) == 0.0  # past the budget: never negative
    rates = [train.learning_rate(s, 10 + i, 500, 6.0 * i) for i in range(100)]
    assert all(a >= b for a, b in itertools.pairwise(rates))


def test_without_a_budget_the_horizon_is_the_planned_steps() -> None:
    s = train.TrainSettings(minutes=0, learning_rate=2e-4, warmup_steps=1)
    assert train.learning_rate(s, 50, 100, 1e6) == pytest.approx(1e-4)
    assert train.learning_rate(s, 25, 100, 0.0) == pytest.approx(1e-4 * (1 + math.cos(math.pi / 4)))


def test_constant_keeps_the_rate_and_an_unknown_schedule_is_refused() -> None:
    s = train.TrainSettings(minutes=1, learning_rate=3e-4, warmup_steps=2, schedule="constant")
    assert train.learning_rate(s, 0, 10, 0.0) == pytest.approx(1.5e-4)
    assert train.learning_rate(s, 5, 10, 59.0) == pytest.approx(3e-4)
    with pytest.raises(InputError, match="schedule"):
        train.learning_rate(train.TrainSettings(schedule="linear"), 0, 10, 0.0)


class Quiet:
    def __init__(self) -> None:
        self.notes: list[str] = []

    def note(self, message: str) -> None:
        self.notes.append(message)

    def start(self, total: int, done: int) -> None:
        pass

    def step(self, done: int, total: int, loss: float) -> None:
        pass

    def plan(self, plan: train.Plan) -> None:
        pass


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_snapshots_are_saved_during_the_run_and_written_as_adapters(
    tiny_model: tuple[Path, Path], tmp_path: Path
) -> None:
    from transformers import AutoTokenizer

    from codeslm.tune import export

    hf, gguf = tiny_model
    tokenizer = AutoTokenizer.from_pretrained(str(hf))
    examples = [
        Example(
            "a.py", i, 0, f"<|fim_prefix|>x{i} = <|fim_suffix|>\n<|fim_middle|>", f"v{i}", "api"
        )
        for i in range(4)
    ]
    data = train.tokenize(examples, tokenizer, 512, tokenizer.eos_token_id)
    # 0.00001 min is due after the first step; 1e6 min never comes in this run
    settings = train.TrainSettings(
        minutes=0, epochs=1, rank=4, alpha=8, checkpoint_s=1e9, snapshots=(1e-5, 1e6)
    )
    model = train.load_model(hf, settings, None)
    reporter = Quiet()
    outcome = train.train(model, data, settings, tmp_path, reporter)
    assert outcome.steps == 4
    assert [(s.minutes, s.step) for s in outcome.snapshots] == [(1e-5, 1)]
    snap = outcome.snapshots[0]
    assert snap.loss == outcome.losses[0]
    folder = Path(snap.folder)
    assert all((folder / name).is_file() for name in store.PEFT_FILES)
    assert any("snapshot" in n for n in reporter.notes)

    # the snapshot's weights are those after step 1, not the final ones
    from safetensors.torch import load_file

    final = tmp_path / "final"
    model.save_pretrained(str(final))
    early = load_file(folder / "adapter_model.safetensors")
    late = load_file(final / "adapter_model.safetensors")
    assert early.keys() == late.keys()
    assert any(not early[k].equal(late[k]) for k in early)

    info = store.AdapterInfo(
        repo_root=str(tmp_path),
        base_name="tiny",
        base_sha256=store.gguf_sha256(gguf),
        held_out=[],
        train_files=["a.py"],
        split_seed=0,
        held_out_share=0.2,
        examples=4,
        teacher_examples=0,
        steps=snap.step,
        epochs=0.25,
        minutes=0.0,
        final_loss=snap.loss,
        teacher="",
        lora=settings.lora(),
        created="now",
    )
    target = export.write_saved(folder, hf, info, tmp_path / "adapter-1e-05min")
    assert store.is_finished(target)
    assert store.AdapterInfo.read(target).steps == 1
    assert store.resolve_setting(str(target), gguf) == target / store.GGUF_NAME

    # a resumed run does not take a snapshot it already took
    again = train.load_model(hf, settings, tmp_path / "checkpoint")
    more = train.TrainSettings(
        minutes=0, epochs=2, rank=4, alpha=8, checkpoint_s=1e9, snapshots=(1e-5,)
    )
    resumed = train.train(again, data, more, tmp_path, Quiet(), resume=True)
    assert [(s.minutes, s.step) for s in resumed.snapshots] == [(1e-5, 1)]
