"""Actions in the editor: code actions that return a command; the command generates and applies.

Listing is cheap (no model call): every action of the registry (:mod:`codeslm.actions`, the
built-in ones and the user's ``[[actions]]``) that is offered where the user is becomes a
``refactor.rewrite`` code action, or a ``quickfix`` per diagnostic the editor sent for the
actions offered on problems. Running one (``workspace/executeCommand``) generates with the
model under work-done progress, turns the answer into minimal edits and sends them with
``workspace/applyEdit`` (:mod:`.workspace_edit`) against the document version the action was
offered for: if the document changed meanwhile, nothing is applied.

Each built-in action has its own command (``codeslm.docstring``...); user-defined actions run
through ``codeslm.action`` with their name in ``action``. Commands take one argument object:
``{"uri", "version", "range", "instruction"?, "diagnostic"?, "action"?}``. An action that takes
an instruction (``codeslm.editSelection``) without one asks the user to pick one with
``window/showMessageRequest`` (editor configs ask for free text instead).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcInvalidParams

from codeslm import outline
from codeslm.actions import (
    Action,
    Offer,
    OfferContext,
    Problem,
    RefactorRequest,
    all_actions,
    apply_answer,
    by_command,
    generate_answer,
    get,
)
from codeslm.actions.user import COMMAND as USER_COMMAND
from codeslm.actions.user import UserAction, load_user_actions
from codeslm.errors import CodeslmError
from codeslm.types import Range

from .action_args import CONVERTER, CommandArgs, arguments, parse_args
from .convert import InvalidPosition, LineIndex
from .progress import WorkProgress
from .server import CodeslmServer
from .settings import language_enabled
from .workspace_edit import apply_changes

log = logging.getLogger(__name__)

# Offered when editSelection arrives without an instruction (clients without a text prompt).
PRESET_INSTRUCTIONS = [
    "Simplify it without changing behaviour",
    "Add type annotations",
    "Add error handling for invalid input",
    "Make it more efficient",
    "Add comments explaining the tricky parts",
]
_MAX_FIXES = 5


def commands() -> list[str]:
    """Every command the server registers: one per built-in action, one for user actions."""
    return [a.command for a in all_actions()] + [USER_COMMAND]


# -- user-defined actions ------------------------------------------------------------------

_user_cache: dict[tuple[Any, ...], tuple[list[UserAction], list[str]]] = {}
_reported: set[str] = set()


def user_actions(ls: CodeslmServer) -> list[UserAction]:
    """The ``[[actions]]`` of the config files in effect, re-read when a file changes; each
    mistake is shown to the user once (that file's actions are left out)."""
    files = list(ls.services.loaded.files)
    key = tuple((str(p), *_stamp(p)) for p in files)
    if key not in _user_cache:
        _user_cache.clear()
        _user_cache[key] = load_user_actions(files, reserved=[a.name for a in all_actions()])
    actions, errors = _user_cache[key]
    for error in errors:
        if error not in _reported:
            _reported.add(error)
            ls.show(error, lsp.MessageType.Error)
    return actions


def _stamp(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except OSError:
        return (0, -1)
    return (st.st_mtime_ns, st.st_size)


# -- listing -------------------------------------------------------------------------------


def _wanted(only: list[str] | None, kind: str) -> bool:
    if not only:
        return True
    return any(kind == o or kind.startswith(o + ".") for o in only)


def _code_action(
    action: Action,
    title: str,
    kind: str,
    uri: str,
    version: int,
    rng: lsp.Range,
    diagnostic: lsp.Diagnostic | None = None,
) -> lsp.CodeAction:
    args = arguments(
        uri,
        version,
        rng,
        action=None if action.builtin else action.name,
        diagnostic=None if diagnostic is None else CONVERTER.unstructure(diagnostic),
    )
    return lsp.CodeAction(
        title=f"codeslm: {title}",
        kind=kind,
        diagnostics=None if diagnostic is None else [diagnostic],
        command=lsp.Command(title=title, command=action.command, arguments=args),
    )


def code_actions(ls: CodeslmServer, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
    """The actions offered at the range (no model call)."""
    uri = params.text_document.uri
    doc = ls.documents.get(uri)
    if doc is None or doc.refused is not None:
        return []
    if not language_enabled(doc.language, ls.services.config.lsp.disabled_languages):
        return []
    index = doc.index(ls.documents.encoding)
    try:
        start, end = index.range_offsets(params.range)
    except InvalidPosition as exc:
        log.warning("codeAction at an invalid range in %s: %s", uri, exc)
        return []
    only = [str(k) for k in params.context.only] if params.context.only else None
    definition = outline.enclosing_definition(doc.text, doc.language, start)
    here = OfferContext(
        doc.language, bool(doc.path), end > start, None if definition is None else definition.name
    )
    rewrite = lsp.CodeActionKind.RefactorRewrite.value
    quickfix = lsp.CodeActionKind.QuickFix.value
    out: list[lsp.CodeAction] = []
    for action in all_actions(user_actions(ls)):
        if action.offer is not Offer.DIAGNOSTIC:
            if _wanted(only, rewrite) and action.offered(here):
                out.append(
                    _code_action(
                        action, action.offer_title(here), rewrite, uri, doc.version, params.range
                    )
                )
            continue
        if not _wanted(only, quickfix):
            continue
        for diagnostic in params.context.diagnostics[:_MAX_FIXES]:
            problem = dataclasses.replace(here, diagnostic=diagnostic.message)
            if action.offered(problem):
                out.append(
                    _code_action(
                        action,
                        action.offer_title(problem),
                        quickfix,
                        uri,
                        doc.version,
                        diagnostic.range,
                        diagnostic,
                    )
                )
    return out


# -- running -------------------------------------------------------------------------------


def _find_action(ls: CodeslmServer, command: str, spec: CommandArgs) -> Action:
    action = by_command(command)
    if action is not None:
        return action
    if not spec.action:
        raise JsonRpcInvalidParams(f"{command}: 'action' must name a configured action")
    try:
        return get(spec.action, user_actions(ls))
    except CodeslmError as exc:
        raise JsonRpcInvalidParams(f"{command}: {exc.message}") from None


async def run_command(
    ls: CodeslmServer,
    command: str,
    args: tuple[Any, ...],
    work_done_token: lsp.ProgressToken | None = None,
) -> dict[str, Any]:
    """Run one action command end to end; the result says whether an edit was applied."""
    spec = parse_args(command, args)
    action = _find_action(ls, command, spec)

    def refuse(message: str, reason: str) -> dict[str, Any]:
        ls.show(message)
        return {"applied": False, "reason": reason, "message": message}

    doc = ls.documents.get(spec.uri)
    if doc is None:
        return refuse(f"{command}: the document is not open", "not-open")
    if doc.refused is not None:
        return refuse(f"{command}: {doc.refused}", "refused")
    if spec.version is not None and spec.version != doc.version:
        return refuse(
            "the document changed since the action was offered; nothing was applied", "stale"
        )
    version = doc.version
    index = doc.index(ls.documents.encoding)
    try:
        core_range = index.core_range(spec.range)
    except InvalidPosition as exc:
        raise JsonRpcInvalidParams(f"{command}: {exc}") from None
    instruction = spec.instruction
    if action.takes_instruction and not instruction.strip():
        instruction = await _ask_instruction(ls) or ""
        if not instruction:
            return {"applied": False, "reason": "cancelled", "message": "no instruction given"}
    problem = _problem(spec.diagnostic, index, core_range)
    if problem is None and action.offer is Offer.DIAGNOSTIC and action.builtin:
        raise JsonRpcInvalidParams(f"{command} needs a 'diagnostic'")
    root = ls.services.context.root_for(doc.path) or (
        ls.services.roots[0] if ls.services.roots else None
    )
    request = RefactorRequest(action.name, doc.core(), core_range, instruction, problem, root)
    try:
        plan = action.plan(request, ls.read_text)
    except CodeslmError as exc:
        return refuse(f"{action.title}: {exc.message}", "input")
    answer = await _generate(ls, plan, work_done_token)
    if isinstance(answer, dict):
        return answer
    current = ls.documents.get(spec.uri)
    if current is None or current.version != version:
        return refuse("the document changed while generating; nothing was applied", "stale")
    try:
        changes = apply_answer(plan, answer, read_text=ls.read_text)
    except CodeslmError as exc:
        log.info("unusable answer for %s: %r", plan.title, answer[:500])
        return refuse(f"{plan.title}: {exc.message}", "answer")
    return await apply_changes(ls, plan.title, spec.uri, doc.path, changes)


def _problem(
    diagnostic: lsp.Diagnostic | None, index: LineIndex, fallback: Range
) -> Problem | None:
    """The diagnostic the command was offered for, in core positions."""
    if diagnostic is None:
        return None
    try:
        problem_range = index.core_range(diagnostic.range)
    except InvalidPosition:
        problem_range = fallback
    code = None if diagnostic.code is None else str(diagnostic.code)
    return Problem(diagnostic.message, problem_range, diagnostic.source, code)


async def _generate(
    ls: CodeslmServer, plan: Any, work_done_token: lsp.ProgressToken | None
) -> str | dict[str, Any]:
    """The model's answer under work-done progress, or the command's result when it was
    cancelled from the progress UI or the backend failed."""
    config = ls.services.config
    async with WorkProgress(ls, f"codeslm: {plan.title}", work_done_token) as progress:
        progress.report("thinking", force=True)
        gen = asyncio.ensure_future(
            generate_answer(
                ls.services.backend,
                plan,
                temperature=config.gen.temperature,
                max_tokens=config.gen.max_tokens,
                on_progress=lambda n: progress.report(f"{n} tokens"),
            )
        )

        def stop_generation() -> None:
            gen.cancel()

        progress.on_cancel(stop_generation)
        try:
            answer = await gen
        except asyncio.CancelledError:
            if progress.cancelled and not _being_cancelled():
                return {"applied": False, "reason": "cancelled", "message": "cancelled"}
            gen.cancel()
            raise
        except CodeslmError as exc:
            ls.status.error(exc.message)
            message = f"{plan.title}: {exc.message}"
            ls.show(message)
            return {"applied": False, "reason": "backend", "message": message}
        progress.report("applying", force=True)
    return answer


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def _ask_instruction(ls: CodeslmServer) -> str | None:
    caps = ls.client_capabilities.window
    if caps is None or caps.show_message is None:
        # Without the capability the request is still allowed; most clients implement it.
        log.debug("client did not declare showMessageRequest support; asking anyway")
    try:
        choice = await ls.window_show_message_request_async(
            lsp.ShowMessageRequestParams(
                type=lsp.MessageType.Info,
                message="codeslm: how should the selection change?",
                actions=[lsp.MessageActionItem(title=t) for t in PRESET_INSTRUCTIONS],
            )
        )
    except Exception as exc:
        log.info("showMessageRequest failed: %s", exc)
        return None
    return choice.title if choice is not None else None


def register(server: CodeslmServer) -> None:
    """Register code actions and the action commands on ``server``."""

    @server.feature(
        lsp.TEXT_DOCUMENT_CODE_ACTION,
        lsp.CodeActionOptions(
            code_action_kinds=[lsp.CodeActionKind.RefactorRewrite, lsp.CodeActionKind.QuickFix]
        ),
    )
    def on_code_action(ls: CodeslmServer, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
        try:
            return code_actions(ls, params)
        except Exception:  # listing actions must never fail the editor's lightbulb
            log.exception("codeAction failed")
            return []

    for name in commands():
        _register_command(server, name)


def _register_command(server: CodeslmServer, name: str) -> None:
    async def handler(ls: CodeslmServer, *args: Any) -> dict[str, Any]:
        return await run_command(ls, name, args)

    handler.__name__ = name.replace(".", "_")
    server.command(name)(handler)
