"""Editor settings -> config layer."""

from __future__ import annotations

from codeslm.lsp.settings import language_enabled, needs_new_backend, settings_layer


def test_nested_wrapped_dotted_and_camel_case_settings() -> None:
    flat, problems = settings_layer({"codeslm": {
        "model": "qwen2.5-coder-1.5b",
        "lsp": {"debounceMs": 80, "disabled_languages": ["markdown"]},
        "context.budget_tokens": 256,
        "url": None,
    }})
    assert problems == []
    assert flat == {"model": "qwen2.5-coder-1.5b", "lsp.debounce_ms": 80,
                    "lsp.disabled_languages": ["markdown"], "context.budget_tokens": 256}


def test_bad_keys_and_values_are_reported_and_skipped() -> None:
    flat, problems = settings_layer({"lsp": {"debounce_ms": "soon", "candidates_invoked": 2},
                                     "modle": "x"})
    assert flat == {"lsp.candidates_invoked": 2}
    assert len(problems) == 2
    assert any("debounce_ms" in p for p in problems)
    assert any("did you mean model" in p for p in problems)


def test_non_object_settings_are_ignored() -> None:
    assert settings_layer(None) == ({}, [])
    assert settings_layer(["x"]) == ({}, [])


def test_backend_keys_and_language_switch() -> None:
    assert needs_new_backend({"model": "a"}, {"model": "b"})
    assert not needs_new_backend({"lsp.debounce_ms": 1}, {"lsp.debounce_ms": 2})
    assert not language_enabled("markdown", ["markdown"])
    assert language_enabled("python", ["markdown"])
    assert not language_enabled("python", ["*"])
