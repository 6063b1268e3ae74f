"""Refactors: code actions that return a command; the command generates and applies the edit.

Listing actions is cheap (no model call): ``refactor.rewrite`` actions for the function or
selection at the cursor and a ``quickfix`` per diagnostic the editor sent. Running one
(``workspace/executeCommand``) generates with the model under work-done progress, turns the
answer into minimal edits (:mod:`codeslm.refactor`) and sends them with
``workspace/applyEdit`` against the document version the action was offered for: if the
document changed meanwhile, nothing is applied. An editor that does not answer the
``applyEdit`` usefully within :func:`apply_edit_timeout` gets a ``RequestFailed`` error for the
command instead of a request that never ends.

Commands take one argument object: ``{"uri", "version", "range", "instruction"?,
"diagnostic"?}``. ``codeslm.editSelection`` without an ``instruction`` asks the user to pick
one with ``window/showMessageRequest`` (editor configs ask for free text instead).
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.uris import from_fs_path

from codeslm import outline
from codeslm.errors import CodeslmError
from codeslm.fileio import atomic_write
from codeslm.refactor import (
    TITLES,
    FileChange,
    Problem,
    RefactorKind,
    RefactorRequest,
    apply_answer,
    generate_answer,
    plan_refactor,
)
from codeslm.textedit import TextEdit

from .convert import InvalidPosition, LineIndex
from .progress import WorkProgress
from .server import CodeslmServer
from .settings import language_enabled

log = logging.getLogger(__name__)

COMMANDS: dict[str, RefactorKind] = {
    "codeslm.docstring": RefactorKind.DOCSTRING,
    "codeslm.generateTests": RefactorKind.TESTS,
    "codeslm.explain": RefactorKind.EXPLAIN,
    "codeslm.fix": RefactorKind.FIX,
    "codeslm.editSelection": RefactorKind.EDIT,
}
_COMMAND_OF = {kind: name for name, kind in COMMANDS.items()}

# Offered when editSelection arrives without an instruction (clients without a text prompt).
PRESET_INSTRUCTIONS = [
    "Simplify it without changing behaviour",
    "Add type annotations",
    "Add error handling for invalid input",
    "Make it more efficient",
    "Add comments explaining the tricky parts",
]
_MAX_FIXES = 5
REQUEST_FAILED = -32803  # LSP ErrorCodes.RequestFailed


def apply_edit_timeout() -> float:
    """Seconds to wait for the editor's answer to ``workspace/applyEdit`` (60, or
    ``CODESLM_APPLY_EDIT_TIMEOUT_S``): long enough for an editor that asks the user to
    confirm, short enough that a client that never answers usefully gets an error."""
    try:
        return max(0.1, float(os.environ.get("CODESLM_APPLY_EDIT_TIMEOUT_S", "60")))
    except ValueError:
        return 60.0


@dataclass(frozen=True, slots=True)
class CommandArgs:
    """The validated argument object of a refactor command."""

    uri: str
    version: int | None
    range: lsp.Range
    instruction: str
    diagnostic: lsp.Diagnostic | None


def parse_args(ls: CodeslmServer, command: str, args: tuple[Any, ...]) -> CommandArgs:
    """Validate the command's argument object; InvalidParams with a clear message if bad."""
    if len(args) != 1 or not isinstance(args[0], dict):
        raise JsonRpcInvalidParams(f"{command} takes one object argument "
                                   "{uri, version, range, instruction?, diagnostic?}")
    raw = args[0]
    uri = raw.get("uri")
    if not isinstance(uri, str) or not uri:
        raise JsonRpcInvalidParams(f"{command}: 'uri' must be a document URI")
    version = raw.get("version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        raise JsonRpcInvalidParams(f"{command}: 'version' must be an integer")
    converter = ls.protocol._converter  # the protocol's own cattrs converter
    try:
        rng = converter.structure(raw.get("range"), lsp.Range)
    except Exception:
        raise JsonRpcInvalidParams(f"{command}: 'range' must be an LSP range") from None
    diagnostic = None
    if raw.get("diagnostic") is not None:
        try:
            diagnostic = converter.structure(raw["diagnostic"], lsp.Diagnostic)
        except Exception:
            raise JsonRpcInvalidParams(f"{command}: 'diagnostic' must be an LSP diagnostic"
                                       ) from None
    instruction = raw.get("instruction") or ""
    if not isinstance(instruction, str):
        raise JsonRpcInvalidParams(f"{command}: 'instruction' must be a string")
    return CommandArgs(uri, version, rng, instruction, diagnostic)


def _arguments(uri: str, version: int, rng: lsp.Range, **extra: Any) -> list[Any]:
    payload: dict[str, Any] = {
        "uri": uri,
        "version": version,
        "range": {"start": {"line": rng.start.line, "character": rng.start.character},
                  "end": {"line": rng.end.line, "character": rng.end.character}},
    }
    payload.update({k: v for k, v in extra.items() if v is not None})
    return [payload]


def _wanted(only: list[str] | None, kind: str) -> bool:
    if not only:
        return True
    return any(kind == o or kind.startswith(o + ".") for o in only)


def _action(title: str, kind: str, command: str, arguments: list[Any],
            diagnostics: list[lsp.Diagnostic] | None = None) -> lsp.CodeAction:
    return lsp.CodeAction(
        title=f"codeslm: {title}", kind=kind, diagnostics=diagnostics,
        command=lsp.Command(title=title, command=command, arguments=arguments),
    )


def code_actions(ls: CodeslmServer, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
    """The refactors available at the range (no model call)."""
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
    actions: list[lsp.CodeAction] = []
    rewrite = lsp.CodeActionKind.RefactorRewrite.value
    if _wanted(only, rewrite):
        definition = outline.enclosing_definition(doc.text, doc.language, start)
        args = _arguments(uri, doc.version, params.range)
        if definition is not None:
            name = f" for `{definition.name}`" if definition.name else ""
            actions.append(_action(TITLES[RefactorKind.DOCSTRING] + name, rewrite,
                                   "codeslm.docstring", args))
            if doc.path:
                actions.append(_action(TITLES[RefactorKind.TESTS] + name, rewrite,
                                       "codeslm.generateTests", args))
        if end > start or definition is not None:
            actions.append(_action(TITLES[RefactorKind.EXPLAIN], rewrite, "codeslm.explain",
                                   args))
        if end > start:
            actions.append(_action(TITLES[RefactorKind.EDIT] + "…", rewrite,
                                   "codeslm.editSelection", args))
    quickfix = lsp.CodeActionKind.QuickFix.value
    if _wanted(only, quickfix):
        converter = ls.protocol._converter
        for diagnostic in params.context.diagnostics[:_MAX_FIXES]:
            message = " ".join(diagnostic.message.split())
            short = message if len(message) <= 60 else message[:59] + "…"
            actions.append(_action(
                f"Fix: {short}", quickfix, "codeslm.fix",
                _arguments(uri, doc.version, diagnostic.range,
                           diagnostic=converter.unstructure(diagnostic)),
                diagnostics=[diagnostic]))
    return actions


async def run_command(ls: CodeslmServer, command: str, args: tuple[Any, ...],
                      work_done_token: lsp.ProgressToken | None = None) -> dict[str, Any]:
    """Run one refactor command end to end; the result says whether an edit was applied."""
    kind = COMMANDS[command]
    spec = parse_args(ls, command, args)

    def refuse(message: str, reason: str) -> dict[str, Any]:
        ls.show(message)
        return {"applied": False, "reason": reason, "message": message}

    doc = ls.documents.get(spec.uri)
    if doc is None:
        return refuse(f"{command}: the document is not open", "not-open")
    if doc.refused is not None:
        return refuse(f"{command}: {doc.refused}", "refused")
    if spec.version is not None and spec.version != doc.version:
        return refuse("the document changed since the action was offered; nothing was applied",
                      "stale")
    version = doc.version
    index = doc.index(ls.documents.encoding)
    try:
        core_range = index.core_range(spec.range)
    except InvalidPosition as exc:
        raise JsonRpcInvalidParams(f"{command}: {exc}") from None
    instruction = spec.instruction
    if kind is RefactorKind.EDIT and not instruction.strip():
        instruction = await _ask_instruction(ls) or ""
        if not instruction:
            return {"applied": False, "reason": "cancelled", "message": "no instruction given"}
    problem = None
    if spec.diagnostic is not None:
        d = spec.diagnostic
        try:
            problem_range = index.core_range(d.range)
        except InvalidPosition:
            problem_range = core_range
        code = None if d.code is None else str(d.code)
        problem = Problem(d.message, problem_range, d.source, code)
    elif kind is RefactorKind.FIX:
        raise JsonRpcInvalidParams("codeslm.fix needs a 'diagnostic'")
    root = ls.services.context.root_for(doc.path) or (
        ls.services.roots[0] if ls.services.roots else None)
    request = RefactorRequest(kind, doc.core(), core_range, instruction, problem, root)
    try:
        plan = plan_refactor(request, read_text=ls.read_text)
    except CodeslmError as exc:
        return refuse(f"{TITLES[kind]}: {exc.message}", "input")
    config = ls.services.config
    async with WorkProgress(ls, f"codeslm: {plan.title}", work_done_token) as progress:
        progress.report("thinking", force=True)
        gen = asyncio.ensure_future(generate_answer(
            ls.services.backend, plan, temperature=config.gen.temperature,
            max_tokens=config.gen.max_tokens,
            on_progress=lambda n: progress.report(f"{n} tokens")))

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
            return refuse(f"{plan.title}: {exc.message}", "backend")
        progress.report("applying", force=True)
    current = ls.documents.get(spec.uri)
    if current is None or current.version != version:
        return refuse("the document changed while generating; nothing was applied", "stale")
    try:
        changes = apply_answer(plan, answer, read_text=ls.read_text)
    except CodeslmError as exc:
        log.info("unusable answer for %s: %r", plan.title, answer[:500])
        return refuse(f"{plan.title}: {exc.message}", "answer")
    return await _apply(ls, plan.title, spec.uri, doc.path, version, changes)


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def _ask_instruction(ls: CodeslmServer) -> str | None:
    caps = ls.client_capabilities.window
    if caps is None or caps.show_message is None:
        # Without the capability the request is still allowed; most clients implement it.
        log.debug("client did not declare showMessageRequest support; asking anyway")
    try:
        choice = await ls.window_show_message_request_async(lsp.ShowMessageRequestParams(
            type=lsp.MessageType.Info,
            message="codeslm: how should the selection change?",
            actions=[lsp.MessageActionItem(title=t) for t in PRESET_INSTRUCTIONS]))
    except Exception as exc:
        log.info("showMessageRequest failed: %s", exc)
        return None
    return choice.title if choice is not None else None


def _lsp_edits(index: LineIndex, edits: tuple[TextEdit, ...]) -> list[lsp.TextEdit]:
    return [lsp.TextEdit(range=index.lsp_range(e.range), new_text=e.new_text) for e in edits]


def _supports(ls: CodeslmServer) -> tuple[bool, bool]:
    """(documentChanges, create-file resource operations) support of the client."""
    ws = ls.client_capabilities.workspace
    edit_caps = ws.workspace_edit if ws is not None else None
    if edit_caps is None:
        return False, False
    ops = [str(getattr(o, "value", o)) for o in (edit_caps.resource_operations or [])]
    return bool(edit_caps.document_changes), "create" in ops


async def _apply(ls: CodeslmServer, title: str, uri: str, doc_path: str | None, version: int,
                 changes: list[FileChange]) -> dict[str, Any]:
    document_changes: list[Any] = []
    plain: dict[str, list[lsp.TextEdit]] = {}
    written: list[str] = []
    versioned, can_create = _supports(ls)
    encoding = ls.documents.encoding
    for change in changes:
        same = change.path == (doc_path or "") or (not change.path)
        target_uri = uri if same else from_fs_path(change.path) or change.path
        open_doc = ls.documents.get(target_uri)
        if same and open_doc is None:
            return _refused(ls, "the document was closed while generating; nothing was applied")
        if open_doc is not None:
            if open_doc.text != change.base_text:
                return _refused(ls, f"{Path(change.path).name} changed while generating; "
                                    "nothing was applied")
            edits = _lsp_edits(open_doc.index(encoding), change.edits)
            doc_version: int | None = open_doc.version
        elif change.create and not (versioned and can_create):
            # The client cannot create files: write the new file ourselves (it must not exist).
            from codeslm.textedit import apply_edits

            try:
                atomic_write(Path(change.path), apply_edits("", list(change.edits)),
                             expected_old=None)
            except CodeslmError as exc:
                return _refused(ls, exc.message)
            written.append(change.path)
            continue
        else:
            edits = _lsp_edits(LineIndex(change.base_text, encoding), change.edits)
            doc_version = None
        if versioned:
            if change.create:
                document_changes.append(lsp.CreateFile(
                    uri=target_uri, options=lsp.CreateFileOptions(overwrite=False,
                                                                  ignore_if_exists=True)))
            document_changes.append(lsp.TextDocumentEdit(
                text_document=lsp.OptionalVersionedTextDocumentIdentifier(
                    uri=target_uri, version=doc_version),
                edits=edits))  # type: ignore[arg-type]
        else:
            plain.setdefault(target_uri, []).extend(edits)
    if document_changes or plain:
        edit = (lsp.WorkspaceEdit(document_changes=document_changes) if versioned
                else lsp.WorkspaceEdit(changes=plain))
        try:
            result = await asyncio.wait_for(ls.workspace_apply_edit_async(
                lsp.ApplyWorkspaceEditParams(edit=edit, label=f"codeslm: {title}")),
                apply_edit_timeout())
        except TimeoutError:
            # A client that answers null (not an ApplyWorkspaceEditResult) is never heard:
            # pygls cannot decode the answer, so only a timeout ends the wait.
            message = (f"the editor did not answer workspace/applyEdit within "
                       f"{apply_edit_timeout():.0f} s; the edit may not have been applied")
            ls.show(message)
            raise JsonRpcException(message, code=REQUEST_FAILED) from None
        except Exception as exc:
            return _refused(ls, f"the editor did not apply the edit ({exc})")
        if result is None or not result.applied:
            reason = (result.failure_reason if result is not None else None) or (
                "the editor refused the edit")
            return _refused(ls, reason)
    for path in written:
        await _show_document(ls, path)
        ls.show(f"wrote {path}", lsp.MessageType.Info)
    return {"applied": True, "files": [c.path or uri for c in changes]}


def _refused(ls: CodeslmServer, message: str) -> dict[str, Any]:
    ls.show(message)
    return {"applied": False, "reason": "not-applied", "message": message}


async def _show_document(ls: CodeslmServer, path: str) -> None:
    window = ls.client_capabilities.window
    if window is None or window.show_document is None or not window.show_document.support:
        return
    try:
        await ls.window_show_document_async(lsp.ShowDocumentParams(
            uri=from_fs_path(path) or path, take_focus=False))
    except Exception as exc:
        log.info("showDocument failed: %s", exc)


def register(server: CodeslmServer) -> None:
    """Register code actions and the refactor commands on ``server``."""

    @server.feature(
        lsp.TEXT_DOCUMENT_CODE_ACTION,
        lsp.CodeActionOptions(code_action_kinds=[lsp.CodeActionKind.RefactorRewrite,
                                                 lsp.CodeActionKind.QuickFix]),
    )
    def on_code_action(ls: CodeslmServer, params: lsp.CodeActionParams
                       ) -> list[lsp.CodeAction]:
        try:
            return code_actions(ls, params)
        except Exception:  # listing actions must never fail the editor's lightbulb
            log.exception("codeAction failed")
            return []

    for name in COMMANDS:
        _register_command(server, name)


def _register_command(server: CodeslmServer, name: str) -> None:
    async def handler(ls: CodeslmServer, *args: Any) -> dict[str, Any]:
        return await run_command(ls, name, args)

    handler.__name__ = name.replace(".", "_")
    server.command(name)(handler)
