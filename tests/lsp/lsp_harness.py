"""Drive the real ``codeslm lsp`` process over stdio with pytest-lsp's client.

:func:`lsp_session` starts the server as a subprocess (``python -m codeslm lsp``), initializes
it with explicit client capabilities (pytest-lsp's bundled ones lack inlineCompletion) and plays
a small editor: it keeps the text of the documents it opened, applies ``workspace/applyEdit``
requests to them (refusing stale versions, as editors do) and sends the resulting didChange.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codeslm.lsp.convert import LineIndex
from lsprotocol import types as lsp
from pytest_lsp import ClientServerConfig, LanguageClient


def capabilities(*, create_files: bool = True, document_changes: bool = True,
                 watch: bool = False, configuration: bool = False) -> lsp.ClientCapabilities:
    """A modern editor's capabilities (inline completion, progress, versioned edits)."""
    ops = [lsp.ResourceOperationKind.Create] if create_files else []
    return lsp.ClientCapabilities(
        text_document=lsp.TextDocumentClientCapabilities(
            inline_completion=lsp.InlineCompletionClientCapabilities(),
            completion=lsp.CompletionClientCapabilities(
                completion_item=lsp.ClientCompletionItemOptions(
                    documentation_format=[lsp.MarkupKind.Markdown, lsp.MarkupKind.PlainText])),
            code_action=lsp.CodeActionClientCapabilities(
                code_action_literal_support=lsp.ClientCodeActionLiteralOptions(
                    code_action_kind=lsp.ClientCodeActionKindOptions(
                        value_set=[lsp.CodeActionKind.QuickFix,
                                   lsp.CodeActionKind.RefactorRewrite]))),
        ),
        window=lsp.WindowClientCapabilities(
            work_done_progress=True,
            show_document=lsp.ShowDocumentClientCapabilities(support=True),
        ),
        workspace=lsp.WorkspaceClientCapabilities(
            apply_edit=True,
            configuration=configuration,
            workspace_edit=lsp.WorkspaceEditClientCapabilities(
                document_changes=document_changes, resource_operations=ops),
            did_change_watched_files=lsp.DidChangeWatchedFilesClientCapabilities(
                dynamic_registration=watch),
        ),
    )


@dataclass
class Editor:
    """The client side: open documents, received notifications and requests."""

    client: LanguageClient
    root: Path
    texts: dict[str, str] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    applied: list[lsp.ApplyWorkspaceEditParams] = field(default_factory=list)
    registrations: list[lsp.RegistrationParams] = field(default_factory=list)
    message_requests: list[lsp.ShowMessageRequestParams] = field(default_factory=list)
    refuse_edits: bool = False
    init: lsp.InitializeResult | None = None

    def uri(self, name: str) -> str:
        return (self.root / name).as_uri()

    def open(self, name: str, text: str, language_id: str = "python") -> str:
        return self.open_uri(self.uri(name), text, language_id)

    def open_uri(self, uri: str, text: str, language_id: str = "python") -> str:
        self.texts[uri], self.versions[uri] = text, 1
        self.client.text_document_did_open(lsp.DidOpenTextDocumentParams(
            text_document=lsp.TextDocumentItem(uri=uri, language_id=language_id, version=1,
                                               text=text)))
        return uri

    def replace(self, uri: str, text: str) -> None:
        """A full-text change (as after typing)."""
        self.versions[uri] += 1
        self.texts[uri] = text
        self.client.text_document_did_change(lsp.DidChangeTextDocumentParams(
            text_document=lsp.VersionedTextDocumentIdentifier(uri=uri,
                                                              version=self.versions[uri]),
            content_changes=[lsp.TextDocumentContentChangeWholeDocument(text=text)]))

    def type_at(self, uri: str, line: int, character: int, text: str) -> None:
        """An incremental insertion at a UTF-16 position (as an editor sends keystrokes)."""
        index = LineIndex(self.texts[uri])
        offset = index.offset(lsp.Position(line=line, character=character))
        self.versions[uri] += 1
        self.texts[uri] = self.texts[uri][:offset] + text + self.texts[uri][offset:]
        pos = lsp.Position(line=line, character=character)
        self.client.text_document_did_change(lsp.DidChangeTextDocumentParams(
            text_document=lsp.VersionedTextDocumentIdentifier(uri=uri,
                                                              version=self.versions[uri]),
            content_changes=[lsp.TextDocumentContentChangePartial(
                range=lsp.Range(start=pos, end=pos), text=text)]))

    def _apply(self, params: lsp.ApplyWorkspaceEditParams) -> lsp.ApplyWorkspaceEditResult:
        self.applied.append(params)
        if self.refuse_edits:
            return lsp.ApplyWorkspaceEditResult(applied=False, failure_reason="user said no")
        edit = params.edit
        changes: list[tuple[str, int | None, list[lsp.TextEdit]]] = []
        for change in edit.document_changes or []:
            if isinstance(change, lsp.CreateFile):
                if change.uri not in self.texts:
                    self.texts[change.uri], self.versions[change.uri] = "", 0
                continue
            assert isinstance(change, lsp.TextDocumentEdit)
            uri, version = change.text_document.uri, change.text_document.version
            if uri not in self.texts:  # a file the editor has not open: load it
                path = Path(lsp_path(uri))
                self.texts[uri] = path.read_text() if path.exists() else ""
                self.versions[uri] = 0
            elif version is not None and version != self.versions[uri]:
                return lsp.ApplyWorkspaceEditResult(applied=False,
                                                    failure_reason="version mismatch")
            changes.append((uri, version, list(change.edits)))  # type: ignore[arg-type]
        for uri, edits in (edit.changes or {}).items():
            changes.append((uri, None, list(edits)))
        for uri, _, edits in changes:
            text = self.texts[uri]
            index = LineIndex(text)
            spans = sorted(((*index.range_offsets(e.range), e.new_text) for e in edits),
                           reverse=True)
            for start, end, new_text in spans:
                text = text[:start] + new_text + text[end:]
            if uri in self.versions and self.versions[uri] > 0:
                self.replace(uri, text)
            else:
                self.texts[uri] = text
        return lsp.ApplyWorkspaceEditResult(applied=True)

    async def stats(self) -> dict[str, Any]:
        result = await self.client.protocol.send_request_async("codeslm/stats", {})
        return plain(result)

    async def wait_status(self, *states: str, timeout: float = 120.0) -> dict[str, Any]:
        """The first status notification (already received or coming) in one of ``states``."""
        async def poll() -> dict[str, Any]:
            while True:
                for status in self.statuses:
                    if status["state"] in states:
                        return status
                await asyncio.sleep(0.05)

        return await asyncio.wait_for(poll(), timeout)


def plain(value: Any) -> Any:
    """JSON-like values from what pygls decodes untyped results into (named tuples)."""
    if hasattr(value, "_asdict"):
        return {k: plain(v) for k, v in value._asdict().items()}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def lsp_path(uri: str) -> str:
    from pygls.uris import to_fs_path

    return to_fs_path(uri) or uri


def server_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODESLM_")}
    env.update({"CODESLM_HOME": str(home), "NO_COLOR": "1"})
    # The test session's choice (conftest): in-process model, private daemon directory.
    for name in ("CODESLM_DAEMON_ENABLED", "CODESLM_RUNTIME_DIR"):
        if name in os.environ:
            env[name] = os.environ[name]
    env.update(extra)
    return env


@contextlib.asynccontextmanager
async def lsp_session(
    root: Path,
    env: dict[str, str],
    *,
    caps: lsp.ClientCapabilities | None = None,
    init_options: Any = None,
    configuration: dict[str, Any] | None = None,
    folders: list[Path] | None = None,
    args: tuple[str, ...] = (),
) -> AsyncIterator[Editor]:
    """A started and initialized server with an :class:`Editor` around its client."""
    config = ClientServerConfig(
        server_command=[sys.executable, "-m", "codeslm", "lsp", *args], server_env=env)
    client = await config.start(devtools=None)
    editor = Editor(client, root)
    if configuration is not None:
        client.set_configuration(configuration, section="codeslm")

    @client.feature("codeslm/status")
    def on_status(params: Any) -> None:
        editor.statuses.append(plain(params))

    @client.feature(lsp.WORKSPACE_APPLY_EDIT)
    def on_apply(params: lsp.ApplyWorkspaceEditParams) -> lsp.ApplyWorkspaceEditResult:
        return editor._apply(params)

    @client.feature(lsp.CLIENT_REGISTER_CAPABILITY)
    def on_register(params: lsp.RegistrationParams) -> None:
        editor.registrations.append(params)

    @client.feature(lsp.WINDOW_SHOW_MESSAGE_REQUEST)
    def on_message_request(params: lsp.ShowMessageRequestParams) -> lsp.MessageActionItem | None:
        editor.message_requests.append(params)
        return params.actions[0] if params.actions else None

    folders = folders if folders is not None else [root]
    editor.init = await client.initialize_session(lsp.InitializeParams(
        capabilities=caps or capabilities(),
        root_uri=root.as_uri() if folders else None,
        workspace_folders=[lsp.WorkspaceFolder(uri=f.as_uri(), name=f.name) for f in folders],
        initialization_options=init_options,
    ))
    try:
        yield editor
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.shutdown_session(), 30)
        await client.stop()


def pos(line: int, character: int) -> lsp.Position:
    return lsp.Position(line=line, character=character)


def inline_params(uri: str, line: int, character: int, *, invoked: bool = False
                  ) -> lsp.InlineCompletionParams:
    kind = (lsp.InlineCompletionTriggerKind.Invoked if invoked
            else lsp.InlineCompletionTriggerKind.Automatic)
    return lsp.InlineCompletionParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri), position=pos(line, character),
        context=lsp.InlineCompletionContext(trigger_kind=kind))


def action_command(action: Any) -> tuple[str, list[Any]]:
    """(command, arguments) of a code action as decoded by lsprotocol's client converter.

    lsprotocol decodes a CodeAction that carries a command as a ``Command`` whose ``command``
    is the repr of the action (a known client-side quirk); parse it back.
    """
    import ast

    if isinstance(action, lsp.CodeAction) and action.command is not None:
        return action.command.command, list(action.command.arguments or [])
    assert isinstance(action, lsp.Command)
    if action.arguments is None and action.command.startswith("{"):
        data = ast.literal_eval(action.command)
        return data["command"], data.get("arguments", [])
    return action.command, list(action.arguments or [])
