"""``codeslm eval repo PATH --adapter auto|none|FILE``: the held-out holes with and without
the repository's adapter, side by side.

The holes are those of :mod:`codeslm.evaluation.repo` (same rules, cut and seed) taken only
from the files the adapter never trained on (its ``held_out`` list). Every hole is completed
by the same engine and context modes twice: with ``completion.adapter = "none"`` (mode
``repo``, say) and with the adapter (mode ``repo+adapter``), one session after the other so
only one model is loaded at a time. Rows go to a JSONL file that resumes like the plain
evaluation's. With ``--adapter none`` the held-out holes are scored without the adapter only
(the baseline of a later run).

Adapters load on the llama.cpp backends (embedded or daemon), which apply the GGUF LoRA.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..config import Config
from ..context.index import WorkspaceIndex
from ..errors import InputError
from ..evaluation import repo as repo_eval
from ..runtime.models.resolve import resolve
from ..session import open_session
from . import store

SUFFIX = "+adapter"
Note = Callable[[str], None]


def adapter_folder(value: str, root: Path, config: Config) -> Path | None:
    """The adapter folder ``--adapter`` names (None for ``none``), checked against the base
    model the config's backend loads."""
    if config.backend != "llama-cpp":
        raise InputError(
            "--adapter needs the llama-cpp backend (it applies the GGUF LoRA)",
            hint="for vLLM, serve the PEFT folder with --enable-lora",
        )
    model_path = resolve(config.model).path
    gguf = store.resolve_setting(value, model_path, cwd=root)
    if value == "auto" and gguf is None:
        raise InputError(
            f"no adapter tuned for {root.name} and {config.model}", hint=f"run: codeslm tune {root}"
        )
    return gguf.parent if gguf is not None else None


def held_out_holes(
    index: WorkspaceIndex, held_out: list[str], *, count: int, seed: int, cut: str
) -> list[repo_eval.Hole]:
    """Up to ``count`` evaluation holes from the ``held_out`` files only (deterministic)."""
    wanted = set(held_out)
    per_file = max(2, -(-count // max(1, len(wanted))))
    every = repo_eval.pick_holes(index, count=10**9, seed=seed, per_file=per_file, cut=cut)
    mine = [h for h in every if h.path in wanted]
    random.Random(seed).shuffle(mine)
    return sorted(mine[:count], key=lambda h: (h.path, h.line))


def held_out_of(root: Path, config: Config, value: str) -> tuple[Path | None, list[str]]:
    """The adapter folder and its held-out files; for ``none`` those of the auto adapter."""
    folder = adapter_folder(value, root, config)
    source = folder or adapter_folder("auto", root, config)
    assert source is not None
    return folder, store.AdapterInfo.read(source).held_out


def run(
    index: WorkspaceIndex,
    config: Config,
    settings: repo_eval.RepoEvalSettings,
    value: str,
    output: Path,
    restart: bool,
    note: Note,
) -> list[dict[str, Any]]:
    """Score the held-out holes without and with the adapter; the result rows."""
    root = index.root
    folder, held_out = held_out_of(root, config, value)
    holes = held_out_holes(
        index, held_out, count=settings.holes, seed=settings.seed, cut=settings.cut
    )
    if not holes:
        raise InputError(
            f"{root}: no evaluation hole in the {len(held_out)} held-out files",
            hint="tune again with a larger --held-out share",
        )
    rows = [] if restart else repo_eval.load_results(output, settings)
    if not rows:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(settings.header()) + "\n", encoding="utf-8")
    runs: list[tuple[str, str]] = [("none", "")]
    if folder is not None:
        runs.append((str(folder), SUFFIX))
    note(
        f"{len(holes)} holes from {len(held_out)} held-out files, "
        f"{'with and without' if folder else 'without'} the adapter; results in {output}"
    )
    for adapter, suffix in runs:
        cfg = dataclasses.replace(config)
        cfg.completion = dataclasses.replace(config.completion, adapter=adapter)
        repo_eval_rows = _run_holes(index, cfg, settings, holes, suffix, rows, output, note)
        rows.extend(repo_eval_rows)
    return rows


def _run_holes(
    index: WorkspaceIndex,
    config: Config,
    settings: repo_eval.RepoEvalSettings,
    holes: list[repo_eval.Hole],
    suffix: str,
    rows: list[dict[str, Any]],
    output: Path,
    note: Note,
) -> list[dict[str, Any]]:
    import asyncio

    done = {(r["hole"], r["mode"]) for r in rows}
    new: list[dict[str, Any]] = []

    async def body() -> None:
        async with open_session(config) as session:
            evaluation = repo_eval.RepoEvaluation(index, session, settings)
            for number, hole in enumerate(holes, 1):
                if all((hole.id, m + suffix) in done for m in settings.modes):
                    continue
                text = (index.root / hole.path).read_text(encoding="utf-8")
                results = await evaluation.run_hole(hole, text)
                with output.open("a", encoding="utf-8") as fh:
                    for r in results:
                        r.mode += suffix
                        row = asdict(r)
                        new.append(row)
                        fh.write(json.dumps(row) + "\n")
                marks = " ".join(f"{r.mode} {'ok' if r.exact else '--'}" for r in results)
                note(f"[{number}/{len(holes)}] {hole.id}  {marks}")

    asyncio.run(body())
    return new


def modes_of(settings: repo_eval.RepoEvalSettings, with_adapter: bool) -> list[str]:
    """The table's rows: each context mode, then the same with the adapter."""
    modes = list(settings.modes)
    return modes + [m + SUFFIX for m in modes] if with_adapter else modes
