"""What the prepare-commit-msg hook does, minus process concerns (timeouts, exit codes).

:func:`prepare` reads the message file, applies the policy of :mod:`codeslm.git.prepare`,
writes a message with the model within the diff budget for hooks, and replaces the file in
one atomic rename (only if git's content is still what was read).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from ..backends.base import Backend
from ..config import Config
from ..errors import ConfigError, InputError
from ..fileio import atomic_write, read_text_if_exists
from .changes import collect
from .message import MessageWriter
from .prepare import MODES, comment_char_for, compose, decide
from .repo import GitRepo
from .style import learn


@dataclass(frozen=True, slots=True)
class HookOutcome:
    """``written`` says whether the message file was replaced; ``detail`` is one line."""

    written: bool
    detail: str


def read_message_file(path: Path) -> str:
    text = read_text_if_exists(path)
    if text is None:
        raise InputError(f"the commit message file {path} does not exist")
    return text


async def prepare(
    repo: GitRepo,
    config: Config,
    backend: Backend,
    message_file: Path,
    source: str | None,
    *,
    deadline: float | None,
) -> HookOutcome:
    """Write a generated message into ``message_file`` when the policy allows it."""
    if config.git.hook_write not in MODES:
        raise ConfigError(f"git.hook_write must be one of {', '.join(MODES)}, "
                          f"not {config.git.hook_write!r}")
    original = read_message_file(message_file)
    comment_char = comment_char_for(repo.config_get("core.commentChar"), original)
    decision = decide(source, original, comment_char=comment_char)
    if not decision.write:
        return HookOutcome(False, decision.reason)
    changes = collect(repo, config)
    if changes.empty:
        return HookOutcome(False, "nothing is staged")
    style = learn(repo.recent_commits())
    started = time.perf_counter()
    writer = MessageWriter(backend, config, comment_char=comment_char)
    result = await writer.write(changes, style, budget=config.git.hook_max_diff_tokens,
                                deadline=deadline)
    info = await backend.model_info()
    origin = f"written by {info.name} in {time.perf_counter() - started:.1f} s;"
    text = compose(original, result.message, result.notes, comment_char=comment_char,
                   mode=config.git.hook_write, origin=origin)
    atomic_write(message_file, text, expected_old=original)
    return HookOutcome(True, f"{result.strategy}, {result.model_calls} model call(s)")
