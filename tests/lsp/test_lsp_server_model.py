"""The main paths on the real model: ``codeslm lsp`` with the embedded llama.cpp backend and the
default Qwen2.5-Coder-0.5B GGUF, driven over stdio. One server for the module (one model load).

Assertions are about what a user sees (a non-empty suggestion, an edit confined to the right
place, a cancelled generation that stops using the CPU), not about the model's exact words.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from lsp_harness import Editor, action_command, inline_params, lsp_session, pos, server_env
from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException

pytestmark = [pytest.mark.model, pytest.mark.asyncio(loop_scope="module")]

STATS = '''def average(values):
    total = 0
    for v in values:
        total += v
    return total / lenght(values)


def fibonacci(n):
    
'''


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def editor(tmp_path_factory: pytest.TempPathFactory, model_path: Path
                 ) -> AsyncIterator[Editor]:
    root = tmp_path_factory.mktemp("model-proj")
    (root / "stats.py").write_text(STATS)
    env = server_env(tmp_path_factory.mktemp("home"), CODESLM_MODEL=str(model_path))
    # Short answers keep the module within its time budget on two cores.
    init = {"gen": {"max_tokens": 200}, "completion": {"max_tokens": 48}}
    async with lsp_session(root, env, init_options=init) as ed:
        yield ed


async def test_status_goes_from_loading_to_ready(editor: Editor) -> None:
    ready = await editor.wait_status("ready", "slow", "error", timeout=180)
    assert ready["state"] in ("ready", "slow"), ready
    assert editor.statuses[0]["state"] == "loading"
    assert ready["backend"] == "llama-cpp"


async def test_inline_completion_automatic_and_invoked(editor: Editor) -> None:
    uri = editor.open("stats.py", STATS)
    auto = await editor.client.text_document_inline_completion_async(inline_params(uri, 8, 4))
    assert auto is not None and len(auto.items) == 1
    item = auto.items[0]
    assert item.range == lsp.Range(start=pos(8, 0), end=pos(8, 4))
    assert isinstance(item.insert_text, str) and item.insert_text.startswith("    ")
    assert item.insert_text.strip(), "the model suggested nothing"
    invoked = await editor.client.text_document_inline_completion_async(
        inline_params(uri, 8, 4, invoked=True))
    assert invoked is not None and invoked.items
    texts = [i.insert_text for i in invoked.items]
    assert len(set(texts)) == len(texts) and all(t.strip() for t in texts)  # type: ignore[union-attr]


async def test_completion_fallback_inserts_model_text(editor: Editor) -> None:
    uri = editor.uri("stats.py")
    menu = await editor.client.text_document_completion_async(lsp.CompletionParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri), position=pos(8, 4),
        context=lsp.CompletionContext(trigger_kind=lsp.CompletionTriggerKind.Invoked)))
    assert isinstance(menu, lsp.CompletionList) and menu.is_incomplete and menu.items
    edit = menu.items[0].text_edit
    assert isinstance(edit, lsp.TextEdit) and edit.new_text.strip()
    assert edit.range.start.line == edit.range.end.line == 8


# About 3,000 tokens before the cursor: seconds of prompt processing on two cores, so the
# request is still running when it is cancelled (a short block would already be answered).
LONG = "".join(
    f"def scaled_sum_{i}(values, factor={i}):\n"
    f"    \"\"\"Sum of the values times {i}, skipping None.\"\"\"\n"
    f"    return sum(v * factor for v in values if v is not None) + {i * 7}\n\n\n"
    for i in range(120)) + "def product(values):\n    \n"
LONG_LINE = LONG.count("\n") - 1


async def test_cancelling_a_generation_stops_the_model(editor: Editor) -> None:
    # A long generation: no deadline, many tokens. No background work that would rightly go
    # on after the cancel: the opened file's warm-up, the full window's behind a quick one.
    quiet = {"warm_ahead": False, "quick_first": False}
    editor.client.workspace_did_change_configuration(lsp.DidChangeConfigurationParams(
        settings={"completion": {"max_tokens": 400, "latency_budget_ms": 0,
                                 "mode": "multi-line", "prefix_chars": 14000},
                  "gen": {"max_tokens": 200}, "lsp": quiet}))
    # A document of its own: a prompt no earlier test asked for, so no cache can answer it.
    uri = editor.open("matrix.py", LONG)
    before = await editor.stats()
    future = editor.client.protocol.send_request(
        lsp.TEXT_DOCUMENT_INLINE_COMPLETION, inline_params(uri, LONG_LINE, 4))
    request_id = next(i for i, f in editor.client.protocol._request_futures.items()
                      if f is future)
    await asyncio.sleep(1.5)  # debounce, prompt, then generation under way
    assert not future.done(), "the suggestion came before it could be cancelled"
    editor.client.cancel_request(lsp.CancelParams(id=request_id))
    with pytest.raises(JsonRpcException) as err:
        await asyncio.wait_for(asyncio.wrap_future(future), 30)
    assert err.value.code == -32800
    # The worker notices within a token or a prompt batch; a generation still running (400
    # tokens) would burn about a CPU-second per second for many seconds.
    cancelled_at = time.monotonic()
    idle_after = None
    start = await editor.stats()
    for _ in range(8):
        await asyncio.sleep(1.0)
        end = await editor.stats()
        if end["process_cpu_s"] - start["process_cpu_s"] < 0.3:
            idle_after = time.monotonic() - cancelled_at
            break
        start = end
    assert idle_after is not None, "the server kept computing after the cancel"
    assert start["cancelled"] == before["cancelled"] + 1
    assert start["client_cancelled"] == before["client_cancelled"] + 1
    editor.client.workspace_did_change_configuration(lsp.DidChangeConfigurationParams(
        settings={"gen": {"max_tokens": 200}, "lsp": {"warm_ahead": True, "quick_first": True},
                  "completion": {"max_tokens": 48, "prefix_chars": 3000}}))


async def _actions(editor: Editor, uri: str, start: tuple[int, int], end: tuple[int, int],
                   diagnostics: list[lsp.Diagnostic] | None = None
                   ) -> dict[str, tuple[str, list[Any]]]:
    result = await editor.client.text_document_code_action_async(lsp.CodeActionParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri),
        range=lsp.Range(start=pos(*start), end=pos(*end)),
        context=lsp.CodeActionContext(diagnostics=diagnostics or [])))
    return {c[0]: c for c in (action_command(a) for a in result or [])}


async def _run(editor: Editor, command: tuple[str, list[Any]]) -> Any:
    return await asyncio.wait_for(editor.client.workspace_execute_command_async(
        lsp.ExecuteCommandParams(command=command[0], arguments=command[1])), 180)


async def test_docstring_with_the_model(editor: Editor) -> None:
    uri = editor.uri("stats.py")
    before = editor.texts[uri]
    started = time.monotonic()
    result = await _run(editor, (await _actions(editor, uri, (1, 4), (1, 4)))["codeslm.docstring"])
    assert result["applied"], result
    after = editor.texts[uri]
    lines = after.splitlines()
    assert lines[0] == "def average(values):"
    assert lines[1].lstrip().startswith(('"""', "'''", 'r"""')), lines[1]
    # Only the docstring was inserted after the def line; every other line is untouched.
    original = before.splitlines()
    inserted = len(lines) - len(original)
    assert inserted >= 1 and lines[inserted + 1:] == original[1:], after
    assert all(ln.startswith("    ") or not ln.strip() for ln in lines[1:inserted + 1])
    print(f"docstring refactor took {time.monotonic() - started:.1f}s:\n{after}")


async def test_generate_tests_with_the_model(editor: Editor) -> None:
    uri = editor.uri("stats.py")
    tests = (await _actions(editor, uri, (1, 4), (1, 4)))["codeslm.generateTests"]
    result = await _run(editor, tests)
    assert result["applied"], result
    test_uri = (editor.root / "test_stats.py").as_uri()
    test_text = editor.texts[test_uri]
    assert "def test_" in test_text and "from stats import average" in test_text, test_text


async def test_explain_fix_and_edit_with_the_model(editor: Editor) -> None:
    uri = editor.uri("stats.py")
    text = editor.texts[uri]
    loop = next(i for i, ln in enumerate(text.splitlines()) if ln.startswith("    for v in"))
    explain = (await _actions(editor, uri, (loop, 0), (loop + 2, 0)))["codeslm.explain"]
    assert (await _run(editor, explain))["applied"]
    new_lines = editor.texts[uri].splitlines()
    comment = new_lines[loop]
    assert comment.startswith("    # ") and len(comment) > 12, new_lines
    assert new_lines[:loop] == text.splitlines()[:loop]
    after_comment = [ln for ln in new_lines[loop:] if not ln.startswith("    # ")]
    assert after_comment == text.splitlines()[loop:]

    text = editor.texts[uri]
    line = next(i for i, ln in enumerate(text.splitlines()) if "lenght" in ln)
    col = text.splitlines()[line].index("lenght")
    diagnostic = lsp.Diagnostic(
        range=lsp.Range(start=pos(line, col), end=pos(line, col + 6)),
        message="undefined name 'lenght'", source="pyflakes")
    fix = (await _actions(editor, uri, (line, col), (line, col + 6), [diagnostic]))["codeslm.fix"]
    result = await _run(editor, fix)
    assert result["applied"], result
    fixed = editor.texts[uri]
    assert "lenght" not in fixed and "def average(values):" in fixed
    assert fixed.endswith("def fibonacci(n):\n    \n")  # the other function is untouched

    fib = next(i for i, ln in enumerate(fixed.splitlines()) if ln.startswith("def fibonacci"))
    edit = (await _actions(editor, uri, (fib, 0), (fib + 1, 0)))["codeslm.editSelection"]
    edit[1][0]["instruction"] = "add type hints: n is an int and the function returns an int"
    result = await _run(editor, edit)
    assert result["applied"], result
    after = editor.texts[uri].splitlines()
    assert after[:fib] == fixed.splitlines()[:fib]  # nothing above the selection moved
    assert "int" in after[fib], after[fib]
