"""The context port: the built-in provider meets the whole contract, and the language server's
router finds exactly the optional operations a provider offers."""

from __future__ import annotations

from pathlib import Path

from codeslm.config import Config
from codeslm.context import WorkspaceProvider
from codeslm.context.port import (
    ContextProvider,
    CrossFileContext,
    DocumentEvents,
    estimate_tokens,
    operation,
)
from codeslm.types import Document


def test_the_workspace_provider_offers_every_operation(repo: Path, config: Config) -> None:
    provider = WorkspaceProvider.open(repo, config, refresh="none")
    # Typed assignments: mypy checks that the built-in provider satisfies both protocols.
    engine_side: ContextProvider = provider
    events: DocumentEvents = provider
    assert engine_side is events
    for name in ("update_document", "remove_document", "file_changed", "note_opened", "close"):
        assert operation(provider, name) is not None, name  # type: ignore[call-overload]
    provider.close()


def test_operation_is_none_where_a_provider_lacks_it(repo: Path) -> None:
    class OnlyContext:
        def context_for(self, document: Document, offset: int, **_: object) -> CrossFileContext:
            return CrossFileContext(repo_name=str(repo))

    assert operation(OnlyContext(), "update_document") is None
    assert operation(OnlyContext(), "close") is None
    assert operation(None, "file_changed") is None


def test_the_token_estimate() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("x") == 1
    assert estimate_tokens("x" * 35) == 10
