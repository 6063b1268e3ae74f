"""The hook's commit message, written in the hook or ahead of it (the producer of :mod:`.prepared`).

:func:`plan` reads what the prepare-commit-msg hook reads, with git only: HEAD, the staged
change, the history's style, the comment character, and from them the store key. It is
synchronous (a few git processes), so the language server runs it in a worker thread.
:func:`hook_message` asks the model exactly as the hook does (the hook's diff budget, its short
file list, the cut-to-fit strategy); the hook and :func:`produce` both call it, so a prepared
message is the one the hook would have written. :func:`produce` stores it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from ..backends.base import Backend
from ..config import Config, measured_speed
from ..config.machine_fit import SMALL_FILE_BYTES
from ..errors import InputError
from .changes import ChangeSet, collect
from .message import MessageResult, MessageWriter
from .prepare import comment_char_for
from .prepared import Prepared, Store, key_for, new_entry
from .repo import GitRepo
from .style import CommitStyle, learn

PREPARE_TIMEOUT_S = 300.0  # a producer has no user waiting: room for a model to load

# git.hook_max_diff_tokens = 0 (auto): 512 diff tokens is what the 0.5B (a 491 MB file) fits in
# the hook's 8 s on two cores. Prompt evaluation slows about in proportion to the model file
# (the 1.5B, 2.27x the file, evaluates 99.5 against 218 tokens/s), so a larger model gets
# proportionally fewer tokens, never under 128: with 512 the 1.5B gave up at 8 s on 6 of 6
# commits with the daemon cold (benchmarks/RESULTS.md, issue 15 stop 19).
AUTO_BUDGET_TOKENS = 512
AUTO_REFERENCE_BYTES = SMALL_FILE_BYTES
AUTO_MIN_TOKENS = 128
# The backends that run the model on this machine, whose speed `codeslm doctor` measured.
_LOCAL_BACKENDS = frozenset({"llama-cpp", "embedded"})


@dataclass(slots=True)
class Plan:
    """Everything the hook's prompt is made of, and the key of its message."""

    repo: GitRepo
    head: str | None
    changes: ChangeSet
    style: CommitStyle
    comment_char: str
    key: str
    store: Store


def plan(repo: GitRepo, config: Config, *, comment_char: str | None = None) -> Plan | None:
    """The plan for the staged change, or None when nothing is staged.

    ``comment_char`` is the hook's (read from git's message file); without it, the one git
    would use for a message with no text. InputError (try again later) when HEAD moved while
    the change was read, since the key would then name a base the diff was not taken from.
    """
    if comment_char is None:
        comment_char = comment_char_for(repo.config_get("core.commentChar"), "")
    head = repo.head()
    changes = collect(repo, config)
    if changes.empty:
        return None
    style = learn(repo.recent_commits())
    if repo.head() != head:
        raise InputError("HEAD moved while the staged change was read")
    key = key_for(head, changes, config, comment_char=comment_char)
    return Plan(repo, head, changes, style, comment_char, key, Store.of(repo))


async def hook_message(
    plan: Plan, config: Config, backend: Backend, *, deadline: float
) -> MessageResult:
    """The message the hook writes for ``plan`` (``deadline``: a ``time.monotonic()`` instant;
    having one is what makes the prompt the hook's: a short file list, the diff cut to fit)."""
    writer = MessageWriter(backend, config, comment_char=plan.comment_char)
    budget = await hook_budget(config, backend)
    speed = name = None
    if config.backend in _LOCAL_BACKENDS:  # a server's speed is not this machine's
        name = (await backend.model_info()).name
        speed = measured_speed.read(name)
    result = await writer.write(
        plan.changes, plan.style, budget=budget, deadline=deadline, speed=speed
    )
    unmeasured = speed is None and backend.times_loaded_local_model
    if unmeasured and name is not None and result.usage is not None:
        # No doctor measured this model here (`codeslm setup`, or the doctor measured the
        # 1.5B and chose the 0.5B): this answer's timings size the next commit's prompt.
        measured_speed.learn(name, result.usage)
    return result


async def hook_budget(config: Config, backend: Backend) -> int:
    """The hook's diff budget in tokens: ``git.hook_max_diff_tokens``, or for 0 (auto) one
    sized for the served model's file (see :data:`AUTO_BUDGET_TOKENS`). A function of the
    settings and the model only, both in the store key, so a preparer and the hook agree."""
    if config.git.hook_max_diff_tokens > 0:
        return config.git.hook_max_diff_tokens
    path = (await backend.model_info()).path
    try:
        size = os.path.getsize(path) if path else 0
    except OSError:
        size = 0
    if size <= AUTO_REFERENCE_BYTES:  # unknown (a server's model) or no larger than the 0.5B
        return AUTO_BUDGET_TOKENS
    return max(AUTO_MIN_TOKENS, AUTO_BUDGET_TOKENS * AUTO_REFERENCE_BYTES // size)


def remember(plan: Plan, result: MessageResult, model: str) -> Prepared:
    """Store ``result`` as the prepared message of ``plan``; returns the entry.

    OSError or InputError when the git dir cannot be written.
    """
    entry = new_entry(
        plan.key,
        result.message,
        result.notes,
        strategy=result.strategy,
        model=model,
        elapsed_s=result.elapsed_s,
    )
    plan.store.put(entry)
    return entry


async def produce(
    plan: Plan, config: Config, backend: Backend, *, timeout_s: float = PREPARE_TIMEOUT_S
) -> tuple[Prepared, bool]:
    """The prepared message of ``plan``, written with the model unless it is already stored;
    returns (entry, whether the model wrote it now)."""
    found = plan.store.get(plan.key)
    if found is not None:
        return found, False
    started = time.monotonic()
    result = await hook_message(plan, config, backend, deadline=started + timeout_s)
    info = await backend.model_info()
    return remember(plan, result, info.name), True
