"""Session handlers: initialize, settings, workspace folders, document sync, file watching.

Settings arrive in ``initializationOptions``, in ``workspace/didChangeConfiguration`` (pushed
``settings``) and, when the client supports it, from ``workspace/configuration`` (section
``codeslm``). Document changes keep the document store current at once and reach the context
index after a short quiet period, so typing does not re-index on every keystroke.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from lsprotocol import types as lsp
from pygls.uris import to_fs_path

from codeslm.errors import CodeslmError

from . import prepared_commit
from .documents import UnknownDocument
from .progress import WorkProgress
from .server import CodeslmServer
from .settings import settings_layer

log = logging.getLogger(__name__)

INDEX_DELAY_S = 0.3
STATS_METHOD = "codeslm/stats"


def _roots(params: lsp.InitializeParams) -> list[str]:
    roots: list[str] = []
    for folder in params.workspace_folders or []:
        path = to_fs_path(folder.uri)
        if path:
            roots.append(path)
    if not roots:
        uri = params.root_uri
        path = to_fs_path(uri) if uri else params.root_path
        if path:
            roots.append(path)
    return roots


def apply_settings(
    ls: CodeslmServer, raw: Any, *, roots: list[str] | None = None, announce: bool = True
) -> None:
    """Merge editor settings into the config; report problems instead of failing."""
    flat, problems = settings_layer(raw)
    for problem in problems:
        log.warning("ignored setting: %s", problem)
        if announce:
            ls.show(f"ignored setting: {problem}")
    try:
        # initializationOptions stay the base; pushed or pulled settings go over them.
        changed = ls.services.reconfigure(editor={**ls.init_settings, **flat}, roots=roots)
    except CodeslmError as exc:
        log.warning("settings not applied: %s", exc)
        if announce:
            ls.show(f"settings not applied: {exc}")
        return
    ls.documents.max_bytes = ls.services.config.lsp.max_document_bytes
    if changed:
        log.info("settings changed: %s", ", ".join(changed))
    _announce_switch(ls)
    if announce and any(k in changed for k in ("model", "backend", "url")):
        start_warm_up(ls)


def start_warm_up(ls: CodeslmServer) -> None:
    """Report ``loading`` now and load the model in the background."""
    ls.status.loading(f"loading {ls.services.config.model}")
    ls.spawn(warm_up(ls), "warm-up")


async def warm_up(ls: CodeslmServer) -> None:
    """Load (or reach) the model in the background with progress and status."""
    async with WorkProgress(
        ls, f"codeslm: loading {ls.services.config.model}", cancellable=False
    ) as progress:
        progress.report("loading", force=True)
        await ls.services.warm_up()
    _announce_switch(ls)


def _announce_switch(ls: CodeslmServer) -> None:
    """Status ``disabled`` while the settings turn completions off for every language."""
    if "*" in ls.services.config.lsp.disabled_languages:
        ls.status.disabled("turned off in the settings (lsp.disabled_languages)")
    elif ls.status.state == "disabled":
        ls.status.ready()


def _schedule_index(ls: CodeslmServer, uri: str) -> None:
    """Update the context index for ``uri`` once edits pause."""
    pending = ls.index_timers
    timer = pending.pop(uri, None)
    if timer is not None:
        timer.cancel()

    def run() -> None:
        pending.pop(uri, None)
        doc = ls.documents.get(uri)
        if doc is not None and doc.refused is None:
            ls.services.context.update(doc.path, doc.text)

    pending[uri] = asyncio.get_running_loop().call_later(INDEX_DELAY_S, run)


def initialize(ls: CodeslmServer, params: lsp.InitializeParams) -> None:
    ls.documents.encoding = ls.encoding
    roots = _roots(params)
    flat, problems = settings_layer(params.initialization_options)
    ls.pending_problems.extend(f"ignored setting: {p}" for p in problems)
    try:
        ls.services.reconfigure(editor=flat, roots=roots)
        ls.init_settings = flat
    except CodeslmError as exc:
        ls.pending_problems.append(f"settings not applied: {exc}")
        try:
            ls.services.reconfigure(editor={}, roots=roots)
        except CodeslmError as again:  # e.g. a broken .codeslm.toml in the workspace
            ls.pending_problems.append(f"project config not applied: {again}")
    ls.documents.max_bytes = ls.services.config.lsp.max_document_bytes
    log.info(
        "initialized for %s (encoding %s, backend %s, model %s)",
        roots or "no folder",
        ls.documents.encoding,
        ls.services.config.backend,
        ls.services.config.model,
    )


async def initialized(ls: CodeslmServer, params: lsp.InitializedParams) -> None:
    ls.session_started = True
    for problem in ls.pending_problems:
        ls.show(problem)
    ls.pending_problems.clear()
    caps = ls.client_capabilities
    workspace_caps = caps.workspace
    if workspace_caps is not None and workspace_caps.configuration:
        ls.spawn(_pull_settings(ls), "pull-settings")
    watch = workspace_caps.did_change_watched_files if workspace_caps else None
    if watch is not None and watch.dynamic_registration:
        ls.spawn(_register_watchers(ls), "register-watchers")
    start_warm_up(ls)
    prepared_commit.start(ls)  # commit messages written ahead of `git commit` (git.prepare)


async def shutdown(ls: CodeslmServer, params: Any = None) -> None:
    for timer in ls.index_timers.values():
        timer.cancel()
    ls.services.context.close()
    await ls.services.aclose()


async def did_change_configuration(
    ls: CodeslmServer, params: lsp.DidChangeConfigurationParams
) -> None:
    settings = params.settings
    if settings in (None, {}, []):  # "pull" clients send an empty notification
        workspace_caps = ls.client_capabilities.workspace
        if workspace_caps is not None and workspace_caps.configuration:
            await _pull_settings(ls)
        return
    apply_settings(ls, settings)


def did_change_folders(ls: CodeslmServer, params: lsp.DidChangeWorkspaceFoldersParams) -> None:
    roots = [r for r in ls.services.roots]
    for folder in params.event.removed:
        path = to_fs_path(folder.uri)
        if path in roots:
            roots.remove(path)
    for folder in params.event.added:
        path = to_fs_path(folder.uri)
        if path and path not in roots:
            roots.append(path)
    try:
        ls.services.reconfigure(roots=roots)
    except CodeslmError as exc:
        ls.show(f"workspace folders: {exc}")


def did_open(ls: CodeslmServer, params: lsp.DidOpenTextDocumentParams) -> None:
    doc = ls.documents.open(params.text_document)
    if doc.refused is None:
        ls.services.context.ensure_root(doc.path, ls.services.config)
        ls.services.context.opened(doc.path, doc.text)


def did_change(ls: CodeslmServer, params: lsp.DidChangeTextDocumentParams) -> None:
    try:
        ls.documents.change(params)
    except UnknownDocument:
        log.warning("didChange for a document that is not open: %s", params.text_document.uri)
        return
    ls.scheduler.rhythm.edit(params.text_document.uri)
    _schedule_index(ls, params.text_document.uri)


def did_save(ls: CodeslmServer, params: lsp.DidSaveTextDocumentParams) -> None:
    doc = ls.documents.get(params.text_document.uri)
    if doc is not None and doc.refused is None:
        ls.services.context.update(doc.path, doc.text)


def did_close(ls: CodeslmServer, params: lsp.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    ls.scheduler.cancel(uri)
    doc = ls.documents.close(uri)
    if doc is not None and doc.path:
        # The file on disk is the truth again (the buffer may have been closed unsaved).
        ls.services.context.closed(doc.path)


def did_change_watched(ls: CodeslmServer, params: lsp.DidChangeWatchedFilesParams) -> None:
    for change in params.changes:
        path = to_fs_path(change.uri)
        if not path or change.uri in ls.documents:
            continue  # open documents are followed through didChange
        if change.type == lsp.FileChangeType.Deleted:
            ls.services.context.remove(path)
        else:
            ls.services.context.changed_on_disk(path, ls.read_text_quietly)


def stats(ls: CodeslmServer, params: Any = None) -> dict[str, Any]:
    # One stats object: the scheduler's requests and the engine's work (warm-ups, tokens).
    out = ls.scheduler.stats.as_dict(ls.scheduler.ledger)
    out["status"] = ls.status.params()
    return out


def register(server: CodeslmServer) -> None:
    """Register the session handlers on ``server``."""
    server.feature(lsp.INITIALIZE)(initialize)
    server.feature(lsp.INITIALIZED)(initialized)
    server.feature(lsp.SHUTDOWN)(shutdown)
    server.feature(lsp.WORKSPACE_DID_CHANGE_CONFIGURATION)(did_change_configuration)
    server.feature(lsp.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)(did_change_folders)
    server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)(did_open)
    server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)(did_change)
    server.feature(lsp.TEXT_DOCUMENT_DID_SAVE, lsp.SaveOptions(include_text=False))(did_save)
    server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)(did_close)
    server.feature(lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES)(did_change_watched)
    server.feature(STATS_METHOD)(stats)


async def _pull_settings(ls: CodeslmServer) -> None:
    try:
        result = await asyncio.wait_for(
            ls.workspace_configuration_async(
                lsp.ConfigurationParams(items=[lsp.ConfigurationItem(section="codeslm")])
            ),
            10.0,
        )
    except Exception as exc:  # a client that cannot answer keeps the settings it pushed
        log.info("workspace/configuration failed: %s", exc)
        return
    if result and isinstance(result[0], dict) and result[0]:
        apply_settings(ls, {"codeslm": result[0]})


async def _register_watchers(ls: CodeslmServer) -> None:
    options = lsp.DidChangeWatchedFilesRegistrationOptions(
        watchers=[lsp.FileSystemWatcher(glob_pattern="**/*")]
    )
    try:
        await asyncio.wait_for(
            ls.client_register_capability_async(
                lsp.RegistrationParams(
                    registrations=[
                        lsp.Registration(
                            id="codeslm-watch",
                            method=lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                            register_options=options,
                        )
                    ]
                )
            ),
            10.0,
        )
    except Exception as exc:
        log.info("file watching not registered: %s", exc)
