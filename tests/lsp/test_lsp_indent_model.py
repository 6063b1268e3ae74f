"""A cursor at column 0 of an empty line inside a function body (an editor without auto-indent,
or a cleared line), through the real ``codeslm lsp`` with the default model: the suggestion is
indented inside the function, not top-level code such as ``def main():`` (issue 15).

One server for the module (one model load). The assertions are about what the user gets (an
indented line that keeps the file valid Python), not the model's exact words.
"""

from __future__ import annotations

import ast
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from lsp_harness import Editor, inline_params, lsp_session, server_env
from lsprotocol import types as lsp

pytestmark = [pytest.mark.model, pytest.mark.asyncio(loop_scope="module")]

# HumanEval/3's prompt (rewrapped) and the start of its canonical body; the last line is left empty.
BELOW_ZERO = '''from typing import List


def below_zero(operations: List[int]) -> bool:
    """ You're given a list of deposit and withdrawal operations on a bank account that
    starts with zero balance. Your task is to detect if at any point the balance of account
    falls below zero, and at that point function should return True. Otherwise it should
    return False.
    >>> below_zero([1, 2, 3])
    False
    >>> below_zero([1, 2, -4, 5])
    True
    """
    balance = 0

    for op in operations:
        balance += op
        if balance < 0:
            return True

'''
# The whole function with the first line of the loop's body cleared: code follows below.
CLEARED = (BELOW_ZERO + "    return False\n").replace("        balance += op\n", "\n")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def editor(
    tmp_path_factory: pytest.TempPathFactory, model_path: Path
) -> AsyncIterator[Editor]:
    root = tmp_path_factory.mktemp("indent-proj")
    env = server_env(tmp_path_factory.mktemp("home"), CODESLM_MODEL=str(model_path))
    init = {"completion": {"max_tokens": 48, "latency_budget_ms": 0}}
    async with lsp_session(root, env, init_options=init) as ed:
        ready = await ed.wait_status("ready", "slow", "error", timeout=180)
        assert ready["state"] in ("ready", "slow"), ready
        yield ed


async def _suggestion(editor: Editor, name: str, text: str, line: int) -> str:
    uri = editor.open(name, text)
    answer = await editor.client.text_document_inline_completion_async(
        inline_params(uri, line, 0, invoked=True)
    )
    assert answer is not None and answer.items, "no suggestion"
    item = answer.items[0]
    assert item.range == lsp.Range(
        start=lsp.Position(line=line, character=0), end=lsp.Position(line=line, character=0)
    )
    assert isinstance(item.insert_text, str) and item.insert_text.strip(), "an empty suggestion"
    return item.insert_text


def _inserted(text: str, line: int, insert: str) -> str:
    lines = text.split("\n")
    lines[line] = insert + lines[line]
    return "\n".join(lines)


def _assert_inside_the_function(insert: str, text: str, line: int, depth: int) -> None:
    first = insert.split("\n", 1)[0]
    indent = first[: len(first) - len(first.lstrip())]
    assert len(indent) >= depth, f"not indented into the block: {insert!r}"
    assert not first.lstrip().startswith(("def ", "class ", "async def ")), insert
    for document in (_inserted(text, line, insert), _inserted(text, line, indent + "pass")):
        tree = ast.parse(document)  # the file stays valid Python
        assert len(tree.body) == 2  # the import and the function: nothing at top level
        function = tree.body[1]
        assert isinstance(function, ast.FunctionDef) and function.name == "below_zero"
        assert function.end_lineno is not None and function.end_lineno > line  # inside it


async def test_end_of_the_body_at_column_0(editor: Editor) -> None:
    line = BELOW_ZERO.count("\n") - 1  # the empty line after `return True`
    insert = await _suggestion(editor, "bank.py", BELOW_ZERO, line)
    _assert_inside_the_function(insert, BELOW_ZERO, line, depth=4)


async def test_a_cleared_line_at_column_0_with_code_below(editor: Editor) -> None:
    line = CLEARED.split("\n").index("    for op in operations:") + 1
    assert CLEARED.split("\n")[line] == ""
    insert = await _suggestion(editor, "cleared.py", CLEARED, line)
    _assert_inside_the_function(insert, CLEARED, line, depth=8)
