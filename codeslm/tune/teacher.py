"""Sequence-level distillation: a teacher model's completions at the training holes.

The teacher is any model the configured backend can run (``qwen2.5-coder-1.5b`` through
llama.cpp, a served model...). At each training hole it completes the same document through
the completion engine, with the same cross-file context rules, in single-line mode; where it
writes something non-empty that differs from the real code, an extra example is added with
the *student's* prompt and the teacher's text as the target. The real code stays a target
too: the student learns both what the repository says and what the stronger model would say.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from ..completion.request import CompletionOptions
from ..config import Config
from ..context.provider import WorkspaceProvider
from ..session import open_session
from ..types import CompletionMode, Position
from .examples import Example, ExampleBuilder, HoleSpec


async def distill(
    builder: ExampleBuilder,
    examples: Sequence[Example],
    config: Config,
    teacher: str,
    *,
    limit: int,
    progress: Callable[[int, int], None] | None = None,
) -> list[Example]:
    """Teacher examples for up to ``limit`` of ``examples`` (the real-code ones, in order)."""
    index = builder.index
    teacher_config = dataclasses.replace(config, model=teacher)
    teacher_config.completion = dataclasses.replace(
        config.completion, latency_budget_ms=0, temperature=0.0
    )
    options = CompletionOptions(
        mode=CompletionMode.SINGLE_LINE,
        use_context=True,
        max_tokens=builder.options.max_tokens,
        use_cache=False,
    )
    chosen = [e for e in examples if e.source == "code"][:limit]
    out: list[Example] = []
    provider = WorkspaceProvider(index, teacher_config, scope="repo", auto_sync=False)
    async with open_session(teacher_config) as session:
        engine = session.engine_with(provider)
        for number, example in enumerate(chosen, 1):
            hole = HoleSpec(example.path, example.line, example.column, example.kind)
            found = builder.document_at(hole)
            if found is None:
                continue
            document, target, text = found
            lines = text.split("\n")
            line_start = sum(len(x) + 1 for x in lines[: hole.line])
            with index.lock:
                index.set_text(hole.path, text[:line_start], overlay=True)
            try:
                provider.forget_region()
                completion = await engine.complete(
                    document, Position(hole.line, hole.column), options
                )
            finally:
                with index.lock:
                    index.revert_overlay(hole.path)
            said = completion.text.split("\n", 1)[0].rstrip()
            if said.strip() and said.strip() != target.strip():
                out.append(dataclasses.replace(example, target=said, source="teacher"))
            if progress is not None:
                progress(number, len(chosen))
    return out
