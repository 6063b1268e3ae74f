"""Sending an action's file changes to the editor with ``workspace/applyEdit``.

Edits go against the document version the action was offered for: if a file changed while
the model was generating, nothing is applied. A new file (generated tests) is created through
the workspace edit when the client can, else written here (atomically; it must not exist).
An editor that does not answer the ``applyEdit`` usefully within :func:`apply_edit_timeout`
gets a ``RequestFailed`` error for the command instead of a request that never ends.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException
from pygls.uris import from_fs_path

from codeslm.actions import FileChange
from codeslm.errors import CodeslmError
from codeslm.fileio import atomic_write
from codeslm.textedit import TextEdit, apply_edits

from .convert import LineIndex
from .server import CodeslmServer

log = logging.getLogger(__name__)

REQUEST_FAILED = -32803  # LSP ErrorCodes.RequestFailed


def apply_edit_timeout() -> float:
    """Seconds to wait for the editor's answer to ``workspace/applyEdit`` (60, or
    ``CODESLM_APPLY_EDIT_TIMEOUT_S``): long enough for an editor that asks the user to
    confirm, short enough that a client that never answers usefully gets an error."""
    try:
        return max(0.1, float(os.environ.get("CODESLM_APPLY_EDIT_TIMEOUT_S", "60")))
    except ValueError:
        return 60.0


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


def refused(ls: CodeslmServer, message: str) -> dict[str, Any]:
    """Tell the user why nothing was applied; the command's answer says the same."""
    ls.show(message)
    return {"applied": False, "reason": "not-applied", "message": message}


async def apply_changes(
    ls: CodeslmServer, title: str, uri: str, doc_path: str | None, changes: list[FileChange]
) -> dict[str, Any]:
    """Apply ``changes`` (the first is usually to the document at ``uri``); the result says
    whether the editor applied them and which files changed."""
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
            return refused(ls, "the document was closed while generating; nothing was applied")
        if open_doc is not None:
            if open_doc.text != change.base_text:
                return refused(
                    ls, f"{Path(change.path).name} changed while generating; nothing was applied"
                )
            edits = _lsp_edits(open_doc.index(encoding), change.edits)
            doc_version: int | None = open_doc.version
        elif change.create and not (versioned and can_create):
            # The client cannot create files: write the new file ourselves (it must not exist).
            try:
                atomic_write(
                    Path(change.path), apply_edits("", list(change.edits)), expected_old=None
                )
            except CodeslmError as exc:
                return refused(ls, exc.message)
            written.append(change.path)
            continue
        else:
            edits = _lsp_edits(LineIndex(change.base_text, encoding), change.edits)
            doc_version = None
        if versioned:
            document_changes.extend(_versioned(change.create, target_uri, doc_version, edits))
        else:
            plain.setdefault(target_uri, []).extend(edits)
    if document_changes or plain:
        edit = (
            lsp.WorkspaceEdit(document_changes=document_changes)
            if versioned
            else lsp.WorkspaceEdit(changes=plain)
        )
        failure = await _send(ls, edit, title)
        if failure is not None:
            return failure
    for path in written:
        await _show_document(ls, path)
        ls.show(f"wrote {path}", lsp.MessageType.Info)
    return {"applied": True, "files": [c.path or uri for c in changes]}


def _versioned(create: bool, uri: str, version: int | None, edits: list[lsp.TextEdit]) -> list[Any]:
    """The ``documentChanges`` entries of one file (created first when it is new)."""
    entries: list[Any] = []
    if create:
        entries.append(
            lsp.CreateFile(
                uri=uri, options=lsp.CreateFileOptions(overwrite=False, ignore_if_exists=True)
            )
        )
    identifier = lsp.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version)
    entries.append(lsp.TextDocumentEdit(text_document=identifier, edits=edits))  # type: ignore[arg-type]
    return entries


async def _send(ls: CodeslmServer, edit: lsp.WorkspaceEdit, title: str) -> dict[str, Any] | None:
    """Send ``edit``; None when the editor applied it, else the refusal."""
    try:
        result = await asyncio.wait_for(
            ls.workspace_apply_edit_async(
                lsp.ApplyWorkspaceEditParams(edit=edit, label=f"codeslm: {title}")
            ),
            apply_edit_timeout(),
        )
    except TimeoutError:
        # A client that answers null (not an ApplyWorkspaceEditResult) is never heard:
        # pygls cannot decode the answer, so only a timeout ends the wait.
        message = (
            f"the editor did not answer workspace/applyEdit within "
            f"{apply_edit_timeout():.0f} s; the edit may not have been applied"
        )
        ls.show(message)
        raise JsonRpcException(message, code=REQUEST_FAILED) from None
    except Exception as exc:
        return refused(ls, f"the editor did not apply the edit ({exc})")
    if result is None or not result.applied:
        reason = (result.failure_reason if result is not None else None) or (
            "the editor refused the edit"
        )
        return refused(ls, reason)
    return None


async def _show_document(ls: CodeslmServer, path: str) -> None:
    window = ls.client_capabilities.window
    if window is None or window.show_document is None or not window.show_document.support:
        return
    try:
        await ls.window_show_document_async(
            lsp.ShowDocumentParams(uri=from_fs_path(path) or path, take_focus=False)
        )
    except Exception as exc:
        log.info("showDocument failed: %s", exc)
