"""``codeslm tune [PATH]``: train a LoRA adapter on a repository (see codeslm/tune/).

Steps: find the base model's Hugging Face form, index the repository, choose and split its
files, make fill-in-the-middle examples with the engine's prompts (plus a teacher's
completions with ``--teacher``), time the first steps and say what fits in ``--minutes``,
train with a progress bar and checkpoints, and write the adapter (PEFT and GGUF) where
``completion.adapter = "auto"`` finds it. Needs the ``codeslm[tune]`` extra.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import hashlib
import importlib.util
import json
import signal
from pathlib import Path
from typing import Any

from ..errors import InputError
from . import common
from .index import progress_bar
from .tune_progress import TrainingReporter, counted

MIN_EXAMPLES = 8
CPU_LAYERS = 8  # --layers on a CPU: the top third of the 0.5B model's 24


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "tune",
        parents=parents,
        help="specialize the model to a repository (a LoRA adapter; codeslm[tune] extra)",
        description="Train a LoRA adapter on the repository's own code, in the engine's "
        "prompt format, holding files out for `codeslm eval repo --adapter`. The adapter is "
        "written for llama.cpp (GGUF) and vLLM (PEFT) and loaded automatically for this "
        "repository (completion.adapter = auto). --model picks the base model.",
    )
    p.add_argument(
        "path",
        nargs="?",
        default=".",
        metavar="PATH",
        help="the repository (default: the current directory's)",
    )
    p.add_argument(
        "--minutes",
        type=float,
        default=20.0,
        help="training time budget in minutes (default 20; 0 = no limit)",
    )
    p.add_argument("--epochs", type=float, default=2.0, help="passes over the examples (2)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the last interrupted run of this repository and model",
    )
    p.add_argument(
        "--teacher",
        metavar="MODEL",
        help="distil: a bigger model's completions at the holes become extra "
        "targets (e.g. qwen2.5-coder-1.5b)",
    )
    p.add_argument(
        "--teacher-holes", type=int, default=200, help="holes the teacher completes (default 200)"
    )
    p.add_argument(
        "--window",
        choices=("full", "quick"),
        default=None,
        help="prompt window: the full one, or the engine's quick first window "
        "(shorter: cheaper on a CPU). Default: full on a GPU, quick on a CPU",
    )
    p.add_argument("--max-examples", type=int, default=2000, help="examples made (2000)")
    p.add_argument(
        "--held-out",
        type=float,
        default=0.2,
        help="share of files never trained on, for evaluation (0.2)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the split and holes (0)")
    p.add_argument("--rank", type=int, default=16, help="LoRA rank (16)")
    p.add_argument(
        "--layers",
        type=int,
        default=None,
        help="adapt only the top N transformer layers (cheaper steps: the backward "
        "pass stops there). Default: all on a GPU, 8 on a CPU; 0 = all",
    )
    p.add_argument("--learning-rate", type=float, default=2e-4, help="peak rate (2e-4)")
    p.add_argument(
        "--schedule",
        choices=("cosine", "constant"),
        default="cosine",
        help="after the warm-up: fall along a half cosine to zero at the end of the "
        "budget (default), or stay constant",
    )
    p.add_argument(
        "--snapshots",
        type=_minutes_list,
        default=(),
        metavar="M[,M...]",
        help="also write the adapter as it is M minutes in (beside the final one, named "
        "<adapter>-<M>min), for a gain-against-minutes curve",
    )
    p.add_argument(
        "--holes",
        choices=("all", "api"),
        default="all",
        help="training holes: cross-file API names and random identifiers (all), or "
        "the API ones only (those `codeslm eval repo` scores)",
    )
    p.add_argument(
        "--max-seq-tokens", type=int, default=2048, help="longer examples are skipped (2048)"
    )
    p.add_argument("--gguf", help="for a Hugging Face --model: the GGUF that will serve it")
    p.add_argument("--output", type=Path, help="write the adapter here instead of the cache")
    p.set_defaults(run=run)


def _minutes_list(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected minutes like 10,20") from None
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: expected minutes above 0, like 10,20")
    return values


def _check_extra() -> None:
    missing = [m for m in ("torch", "transformers", "peft") if importlib.util.find_spec(m) is None]
    if missing:
        raise InputError(
            f"codeslm tune needs {', '.join(missing)}", hint="pip install 'codeslm[tune]'"
        )


def run(args: argparse.Namespace) -> int:
    _check_extra()
    from ..tune import store

    if args.minutes < 0 or args.epochs <= 0 or not 0 < args.held_out < 1:
        raise InputError("--minutes must be >= 0, --epochs > 0 and --held-out in (0, 1)")
    root = store.repo_root(Path(args.path))
    if not Path(args.path).is_dir():
        raise InputError(f"{args.path}: not a directory")
    config = common.load(args).config
    from ..tune.base import resolve_base

    base = resolve_base(config.model, gguf=args.gguf, log=common.note)
    common.note(f"base model {base.name} (sha256 {base.sha256[:12]}); repository {root}")
    work = store.work_dir_for(root, base.sha256)
    prepared = _prepare(args, root, config, base, work)
    return _train_and_write(args, root, base, work, *prepared)


def _prepare(
    args: argparse.Namespace, root: Path, config: Any, base: Any, work: Path
) -> tuple[Any, list[Any], int, Any]:
    """Index, split, examples (reused on --resume when the settings match)."""
    from transformers import AutoTokenizer

    from ..context.index import WorkspaceIndex
    from ..tune import examples as ex
    from ..tune import files, train

    tokenizer = AutoTokenizer.from_pretrained(str(base.folder))
    quick = (args.window or ("full" if train.device_name() == "cuda" else "quick")) == "quick"
    index = WorkspaceIndex.open(root, config.context)
    try:
        with progress_bar("indexing") as update:
            index.refresh(progress=update)
        choice = files.choose(index, seed=args.seed, share=args.held_out)
        if not choice.train:
            raise InputError(
                f"{root}: too little to learn from ({len(choice.used)} usable source files)",
                hint="codeslm tune needs a repository of several source files "
                "in a supported language",
            )
        common.note(
            f"{len(choice.train)} training files, {len(choice.held_out)} held out, "
            f"{len(choice.skipped)} skipped; prompt window: "
            f"{'quick' if quick else 'full'}"
        )
        key = _settings_key(args, base, choice, quick, config)
        saved = work / "examples.jsonl"
        stamp = work / "examples.key"
        examples = ex.load(saved) if stamp.is_file() and stamp.read_text() == key else []
        backend = ex.TokenizerBackend(tokenizer, base.name)
        builder = ex.ExampleBuilder(index, config, backend, quick=quick, hidden=choice.held_out)
        if not examples:
            holes = ex.pick_holes(index, choice.train, seed=args.seed)
            if args.holes == "api":
                holes = [h for h in holes if h.kind == "api"]
            with counted("making examples", "holes") as update:
                examples = common.run(
                    lambda: builder.build_all(holes, limit=args.max_examples, progress=update)
                )
            if args.teacher:
                examples += _distil(args, builder, examples, config)
            ex.save(examples, saved)
            stamp.write_text(key)
        fmt = common.run(builder.engine.fim_format)
    finally:
        index.close()
    if len([e for e in examples if e.source == "code"]) < MIN_EXAMPLES:
        raise InputError(
            f"{root}: too little to learn from ({len(examples)} examples)",
            hint="codeslm tune needs more code in a supported language",
        )
    eos = ex.end_token_id(tokenizer, fmt.stop)
    return choice, examples, eos, tokenizer


def _distil(args: argparse.Namespace, builder: Any, examples: list[Any], config: Any) -> list[Any]:
    from ..tune.teacher import distill

    common.note(f"teacher {args.teacher} completes up to {args.teacher_holes} holes")
    with counted("teacher", "holes") as update:
        extra = common.run(
            lambda: distill(
                builder, examples, config, args.teacher, limit=args.teacher_holes, progress=update
            )
        )
    common.note(f"teacher: {len(extra)} completions differ from the code and are added")
    return extra


def _settings_key(
    args: argparse.Namespace, base: Any, choice: Any, quick: bool, config: Any
) -> str:
    what = [
        "held-out files hidden from the context",  # examples made before that are not reused
        base.sha256,
        args.seed,
        args.held_out,
        args.max_examples,
        args.holes,
        quick,
        args.teacher,
        args.teacher_holes,
        choice.train,
        config.completion.prefix_chars,
        config.completion.suffix_chars,
        config.context.budget_tokens,
    ]
    return hashlib.sha256(json.dumps(what).encode()).hexdigest()


def _train_and_write(
    args: argparse.Namespace,
    root: Path,
    base: Any,
    work: Path,
    choice: Any,
    examples: list[Any],
    eos: int,
    tokenizer: Any,
) -> int:
    from ..tune import export, store, train

    settings = train.TrainSettings(
        minutes=args.minutes,
        epochs=args.epochs,
        rank=args.rank,
        alpha=2 * args.rank,
        learning_rate=args.learning_rate,
        max_seq_tokens=args.max_seq_tokens,
        seed=args.seed,
        layers=_layers(args),
        schedule=args.schedule,
        snapshots=tuple(args.snapshots),
    )
    data = train.tokenize(examples, tokenizer, settings.max_seq_tokens, eos)
    teacher_count = sum(e.source == "teacher" for e in examples)
    common.note(f"{len(data)} examples ({teacher_count} from the teacher) on {train.device_name()}")
    checkpoint = work / "checkpoint"
    resume = args.resume and (checkpoint / "state.pt").is_file()
    if args.resume and not resume:
        common.note("no checkpoint to resume from: starting afresh")
    model = train.load_model(base.folder, settings, checkpoint if resume else None)
    reporter = TrainingReporter(len(choice.train), args.minutes)
    interrupted = [False]
    previous = signal.signal(signal.SIGINT, lambda *_: interrupted.__setitem__(0, True))
    try:
        with reporter:
            outcome = train.train(
                model,
                data,
                settings,
                work,
                reporter,
                resume=resume,
                should_stop=lambda: interrupted[0],
            )
    finally:
        signal.signal(signal.SIGINT, previous)
    if outcome.stopped == "interrupted":
        common.note(
            f"interrupted at step {outcome.steps}: checkpoint kept; run again with --resume"
        )
        return 130
    info = store.AdapterInfo(
        repo_root=str(root),
        base_name=base.name,
        base_sha256=base.sha256,
        held_out=choice.held_out,
        train_files=choice.train,
        split_seed=args.seed,
        held_out_share=args.held_out,
        examples=len(data),
        teacher_examples=teacher_count,
        steps=outcome.steps,
        epochs=round(outcome.epochs, 3),
        minutes=round(outcome.seconds / 60, 2),
        final_loss=outcome.final_loss,
        teacher=args.teacher or "",
        lora=settings.lora(),
        created=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    )
    target = args.output or store.folder_for(root, base.sha256)
    export.write_adapter(model, base.folder, info, target)
    loss = f"{outcome.final_loss:.3f}" if outcome.final_loss is not None else "-"
    print(f"adapter: {target}")
    for snap in outcome.snapshots:
        at = dataclasses.replace(
            info,
            steps=snap.step,
            epochs=round(snap.step / max(1, len(data)), 3),
            minutes=round(snap.seconds / 60, 2),
            final_loss=snap.loss,
        )
        where = target.with_name(f"{target.name}-{snap.minutes:g}min")
        export.write_saved(Path(snap.folder), base.folder, at, where)
        print(f"snapshot at {snap.minutes:g} min ({snap.step} steps): {where}")
    print(
        f"{outcome.steps} steps ({outcome.epochs:.2f} epochs) in "
        f"{outcome.seconds / 60:.1f} min on {outcome.device}, loss {loss}; "
        f"{len(choice.held_out)} held-out files for: codeslm eval repo {root} --adapter auto"
    )
    return 0


def _layers(args: argparse.Namespace) -> int:
    """``--layers``, else all layers on a GPU and the top 8 on a CPU."""
    from ..tune import train

    if args.layers is not None:
        if args.layers < 0:
            raise InputError("--layers must be 0 (all) or more")
        return int(args.layers)
    return 0 if train.device_name() == "cuda" else CPU_LAYERS
