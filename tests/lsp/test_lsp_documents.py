"""Document sync: full and incremental changes with UTF-16 ranges, refused documents."""

from __future__ import annotations

import pytest
from codeslm.lsp.documents import DocumentStore, UnknownDocument, language_of
from lsprotocol import types as lsp

URI = "file:///w/a.py"


def _open(store: DocumentStore, text: str, language_id: str = "python") -> None:
    store.open(lsp.TextDocumentItem(uri=URI, language_id=language_id, version=1, text=text))


def _change(store: DocumentStore, version: int, *changes: object) -> None:
    store.change(lsp.DidChangeTextDocumentParams(
        text_document=lsp.VersionedTextDocumentIdentifier(uri=URI, version=version),
        content_changes=list(changes)))  # type: ignore[arg-type]


def _edit(sl: int, sc: int, el: int, ec: int, text: str) -> lsp.TextDocumentContentChangePartial:
    return lsp.TextDocumentContentChangePartial(
        range=lsp.Range(start=lsp.Position(line=sl, character=sc),
                        end=lsp.Position(line=el, character=ec)), text=text)


def test_incremental_changes_with_emoji_and_cjk() -> None:
    store = DocumentStore()
    _open(store, "s = '😀'\nt = '漢字'\n")
    # Insert after the emoji: UTF-16 column 7 (the emoji counts two units).
    _change(store, 2, _edit(0, 7, 0, 7, "!"))
    _change(store, 3, _edit(1, 6, 1, 7, "か"))  # replace 字
    _change(store, 4, _edit(1, 8, 1, 8, "\nu = 1"))
    doc = store.get(URI)
    assert doc is not None
    assert doc.text == "s = '😀!'\nt = '漢か'\nu = 1\n"
    assert doc.version == 4


def test_full_sync_and_several_changes_in_order() -> None:
    store = DocumentStore()
    _open(store, "old\n")
    _change(store, 2, lsp.TextDocumentContentChangeWholeDocument(text="new\n"),
            _edit(0, 3, 0, 3, " text"))
    doc = store.get(URI)
    assert doc is not None and doc.text == "new text\n"


def test_change_for_unopened_document() -> None:
    with pytest.raises(UnknownDocument):
        _change(DocumentStore(), 2, _edit(0, 0, 0, 0, "x"))


def test_change_past_the_end_is_clamped_not_lost() -> None:
    store = DocumentStore()
    _open(store, "ab\n")
    _change(store, 2, _edit(9, 0, 9, 0, "tail"))
    doc = store.get(URI)
    assert doc is not None and doc.text == "ab\ntail"


def test_huge_and_binary_documents_are_refused_but_kept_in_sync() -> None:
    store = DocumentStore(max_bytes=100)
    _open(store, "x" * 101)
    doc = store.get(URI)
    assert doc is not None and doc.refused is not None and "larger" in doc.refused
    _change(store, 2, lsp.TextDocumentContentChangeWholeDocument(text="small"))
    assert doc.refused is None and doc.text == "small"
    _change(store, 3, lsp.TextDocumentContentChangeWholeDocument(text="a\x00b"))
    assert doc.refused is not None and "binary" in doc.refused


def test_language_ids() -> None:
    assert language_of("typescriptreact", None) == "tsx"
    assert language_of("python", "/x/y.txt") == "python"
    assert language_of("plaintext", "/x/y.rs") == "rust"
    assert language_of(None, "/x/y.go") == "go"
