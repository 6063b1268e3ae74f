"""The open documents, kept in sync from didOpen/didChange/didClose (full and incremental).

Each document knows its version, language and whether codeslm will work on it: documents over
the size limit or that look binary stay in sync but are *refused* (requests on them get empty
answers), so nothing huge or binary reaches a prompt.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from lsprotocol import types as lsp
from pygls.uris import to_fs_path

from codeslm.documents import language_for
from codeslm.types import Document

from .convert import InvalidPosition, LineIndex

log = logging.getLogger(__name__)

# LSP languageId -> tree-sitter language name, where they differ.
LANGUAGE_IDS: dict[str, str] = {
    "typescriptreact": "tsx",
    "javascriptreact": "javascript",
    "shellscript": "bash",
    "sh": "bash",
    "zsh": "bash",
    "csharp": "c_sharp",
    "cs": "c_sharp",
    "c++": "cpp",
    "objective-c": "c",
    "golang": "go",
    "py": "python",
    "python3": "python",
    "js": "javascript",
    "ts": "typescript",
    "rs": "rust",
}


def language_of(language_id: str | None, path: str | None) -> str | None:
    """The tree-sitter language name for an LSP languageId, else from the file extension."""
    if language_id:
        lowered = language_id.lower()
        name = LANGUAGE_IDS.get(lowered, lowered)
        if name not in {"plaintext", "text", "fundamental"}:
            return name
    return language_for(path)


@dataclass
class OpenDocument:
    """One open document as the client sees it."""

    uri: str
    version: int
    language_id: str
    text: str
    path: str | None
    language: str | None
    refused: str | None = None  # why codeslm will not work on it (too large, binary)
    _index: LineIndex | None = field(default=None, repr=False)

    def index(self, encoding: str) -> LineIndex:
        """The line index of the current text (cached until the text changes)."""
        if self._index is None or self._index.text is not self.text or (
                self._index.encoding != encoding):
            self._index = LineIndex(self.text, encoding)
        return self._index

    def core(self) -> Document:
        """The core snapshot of this document."""
        return Document(text=self.text, path=self.path or self.uri, language=self.language)


class UnknownDocument(KeyError):
    """A request or change for a document that was never opened."""


class DocumentStore:
    """Open documents by URI."""

    def __init__(self, *, max_bytes: int = 2_000_000, encoding: str = "utf-16") -> None:
        self.max_bytes = max_bytes
        self.encoding = encoding
        self._docs: dict[str, OpenDocument] = {}

    def __contains__(self, uri: str) -> bool:
        return uri in self._docs

    def __len__(self) -> int:
        return len(self._docs)

    def get(self, uri: str) -> OpenDocument | None:
        return self._docs.get(uri)

    def all(self) -> list[OpenDocument]:
        return list(self._docs.values())

    def open(self, item: lsp.TextDocumentItem) -> OpenDocument:
        path = to_fs_path(item.uri)
        doc = OpenDocument(
            uri=item.uri,
            version=item.version,
            language_id=item.language_id,
            text=item.text,
            path=path,
            language=language_of(item.language_id, path),
        )
        self._check(doc)
        self._docs[item.uri] = doc
        return doc

    def close(self, uri: str) -> OpenDocument | None:
        return self._docs.pop(uri, None)

    def change(self, params: lsp.DidChangeTextDocumentParams) -> OpenDocument:
        """Apply full or incremental changes in order; UnknownDocument if never opened."""
        uri = params.text_document.uri
        doc = self._docs.get(uri)
        if doc is None:
            raise UnknownDocument(uri)
        text = doc.text
        for change in params.content_changes:
            if isinstance(change, lsp.TextDocumentContentChangePartial):
                index = LineIndex(text, self.encoding)
                start = _clamped_offset(index, change.range.start)
                end = _clamped_offset(index, change.range.end)
                if end < start:
                    start, end = end, start
                text = text[:start] + change.text + text[end:]
            else:
                text = change.text
        doc.text = text
        doc.version = params.text_document.version
        self._check(doc)
        return doc

    def _check(self, doc: OpenDocument) -> None:
        reason = None
        # Counting bytes is only worth it near the limit (a code point is at most 4 bytes).
        if len(doc.text) * 4 > self.max_bytes and len(doc.text.encode("utf-8", "replace")) > (
                self.max_bytes):
            reason = f"the document is larger than {self.max_bytes:,} bytes"
        elif "\x00" in doc.text[:8192]:
            reason = "the document looks binary"
        if reason != doc.refused and reason is not None:
            log.warning("%s: %s; codeslm will not complete or refactor it", doc.uri, reason)
        doc.refused = reason


def _clamped_offset(index: LineIndex, position: lsp.Position) -> int:
    try:
        return index.offset(position, clamp_column=True)
    except InvalidPosition as exc:
        # A change past the end: the spec does not allow it, but losing sync would be worse.
        log.warning("change position out of range (%s); clamped to the end", exc)
        return len(index.text)
