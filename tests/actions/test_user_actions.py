"""User-defined actions from configuration: every mistake is one clear line, and a valid one is
planned and applied like a built-in action (replace, insert above, insert below)."""

from __future__ import annotations

from pathlib import Path

import pytest

from codeslm.actions import (
    Problem,
    RefactorRequest,
    all_actions,
    apply_answer,
    generate_answer,
    plan_refactor,
)
from codeslm.actions.user import UserAction, load_user_actions, parse_actions
from codeslm.backends.fake import FakeBackend
from codeslm.config import load_config
from codeslm.errors import ConfigError
from codeslm.textedit import apply_edits
from codeslm.types import Document, Position, Range

BUILTIN = [a.name for a in all_actions()]
SOURCE = "def total(xs):\n    s = 0\n    for x in xs:\n        s += x\n    return s\n"


def _one(**table: object) -> UserAction:
    base: dict[str, object] = {"name": "mine", "prompt": "Rewrite {selection}"}
    base.update(table)
    (action,) = parse_actions([base], "cfg.toml", reserved=BUILTIN)
    return action


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            {"prompt": "Fix {selction} in {file}"},
            "cfg.toml: action 'mine': unknown placeholder {selction} in prompt "
            "(known: {selection}, {file}, {language}, {diagnostics}; write {{ and }} for braces)",
        ),
        (
            {"mode": "append"},
            "cfg.toml: action 'mine': mode must be one of replace, insert_above, insert_below "
            "(got 'append')",
        ),
        (
            {"offered": "hover"},
            "cfg.toml: action 'mine': offered must be one of selection, cursor, diagnostic, always "
            "(got 'hover')",
        ),
        ({"prompt": ""}, "cfg.toml: action 'mine': prompt must be a non-empty string"),
        (
            {"promt": "x"},
            "cfg.toml: action 'mine': unknown key 'promt' (known: max_tokens, mode, "
            "name, offered, prompt, title)",
        ),
        (
            {"name": "my action"},
            "cfg.toml: action #1: name must be a word of letters, digits, - and _ "
            "(got 'my action')",
        ),
        ({"name": "docstring"}, "cfg.toml: action 'docstring' has the name of a built-in action"),
        (
            {"max_tokens": "lots"},
            "cfg.toml: action 'mine': max_tokens must be an integer from 16 to 8192",
        ),
    ],
)
def test_each_mistake_is_one_clear_line(table: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        _one(**table)
    assert err.value.message == message and "\n" not in err.value.message


def test_duplicates_and_a_non_array_are_refused() -> None:
    with pytest.raises(ConfigError, match="defined twice"):
        parse_actions([{"name": "a", "prompt": "p"}, {"name": "a", "prompt": "q"}], "c")
    with pytest.raises(ConfigError, match=r"array of tables \(\[\[actions\]\]\)"):
        parse_actions({"name": "a"}, "c")


def test_braces_are_escaped_and_defaults_apply() -> None:
    action = _one(prompt="Return a dict {{'k': 1}} built from {selection}")
    assert (action.title, action.offer.value, action.mode) == ("mine", "selection", "replace")
    request = RefactorRequest(
        "mine", Document(SOURCE, "/p/m.py", "python"), Range(Position(1, 0), Position(4, 0))
    )
    plan = plan_refactor(request, extra=[action])
    assert "Return a dict {'k': 1} built from s = 0\nfor x in xs:" in plan.messages[-1].content


def _files(tmp_path: Path) -> list[Path]:
    user = tmp_path / "user.toml"
    user.write_text(
        '[[actions]]\nname = "shared"\nprompt = "user {selection}"\n'
        '[[actions]]\nname = "only-user"\nprompt = "u {selection}"\n'
    )
    project = tmp_path / "pyproject.toml"
    project.write_text(
        '[tool.codeslm]\nmodel = "x"\n\n[[tool.codeslm.actions]]\n'
        'name = "shared"\nprompt = "project {selection}"\ntitle = "Shared"\n'
    )
    return [user, project]


def test_files_load_in_order_the_project_overriding_the_user(tmp_path: Path) -> None:
    actions, errors = load_user_actions(_files(tmp_path), reserved=BUILTIN)
    assert errors == []
    by_name = {a.name: a for a in actions}
    assert set(by_name) == {"shared", "only-user"}
    assert by_name["shared"].prompt == "project {selection}" and by_name["shared"].title == "Shared"


def test_a_file_with_a_mistake_is_reported_and_the_others_still_load(tmp_path: Path) -> None:
    files = _files(tmp_path)
    files[0].write_text('[[actions]]\nname = "bad"\nprompt = "{nope}"\n')
    actions, errors = load_user_actions(files, reserved=BUILTIN)
    assert [a.name for a in actions] == ["shared"]
    assert len(errors) == 1 and errors[0].startswith(
        f"{files[0]}: action 'bad': unknown placeholder {{nope}}"
    )


def test_the_config_loader_accepts_actions_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('model = "m"\n[[actions]]\nname = "a"\nprompt = "{selection}"\n')
    monkeypatch.setenv("CODESLM_CONFIG", str(config))
    loaded = load_config(cwd=tmp_path)
    assert loaded.config.model == "m" and config in loaded.files


async def _run(
    action: UserAction,
    start: tuple[int, int],
    end: tuple[int, int],
    answer: str,
    problem: Problem | None = None,
) -> tuple[str, str]:
    request = RefactorRequest(
        action.name,
        Document(SOURCE, "/proj/pkg/m.py", "python"),
        Range(Position(*start), Position(*end)),
        problem=problem,
        root="/proj",
    )
    plan = plan_refactor(request, extra=[action])
    backend = FakeBackend(answer)
    text = await generate_answer(backend, plan)
    (change,) = apply_answer(plan, text)
    prompt = "\n".join(m.content for m in backend.requests[0].messages)
    return apply_edits(SOURCE, list(change.edits)), prompt


async def test_replace_mode_rewrites_the_selection() -> None:
    action = _one(prompt="In {file} ({language}) use sum(): {selection}")
    out, prompt = await _run(action, (1, 0), (4, 0), "```python\ns = sum(xs)\n```")
    assert out == "def total(xs):\n    s = sum(xs)\n    return s\n"
    assert "In pkg/m.py (python) use sum(): s = 0\nfor x in xs:\n    s += x" in prompt
    assert "complete rewritten code" in prompt  # the answer form of replace mode


async def test_insert_above_on_the_function_at_the_cursor() -> None:
    action = _one(
        prompt="A one-line comment for {selection}", offered="cursor", mode="insert_above"
    )
    out, _ = await _run(action, (2, 4), (2, 4), "# Adds up the numbers.")
    assert out == "# Adds up the numbers.\n" + SOURCE


async def test_insert_below_a_selection_keeps_its_indentation() -> None:
    action = _one(prompt="Add a log line after {selection}", mode="insert_below")
    out, _ = await _run(action, (3, 0), (4, 0), "```python\nprint(s)\n```")
    assert out == SOURCE.replace("        s += x\n", "        s += x\n        print(s)\n")


async def test_diagnostic_mode_gets_the_problem_and_its_function() -> None:
    action = _one(prompt="Fix {diagnostics} in {selection}", offered="diagnostic")
    problem = Problem("s may be undefined", Range(Position(3, 8), Position(3, 9)), "lint")
    out, prompt = await _run(
        action, (3, 8), (3, 9), "```python\ndef total(xs):\n    return sum(xs)\n```", problem
    )
    assert "Fix lint: s may be undefined (line 4) in def total(xs):" in prompt
    assert out == "def total(xs):\n    return sum(xs)\n"


async def test_secrets_in_the_selection_never_reach_the_model() -> None:
    token = "Zx8Qp2Lm9Rt4Vw7Yb1Nc6Hd3Jf5Kg0Se2UaT7hW"
    action = _one(prompt="Tidy {selection}")
    request = RefactorRequest(
        "mine",
        Document(f'API_TOKEN = "{token}"\nx=1\n', "/p/a.py", "python"),
        Range(Position(0, 0), Position(2, 0)),
    )
    plan = plan_refactor(request, extra=[action])
    backend = FakeBackend('```python\nAPI_TOKEN = "<redacted:1>"\nx = 1\n```')
    (change,) = apply_answer(plan, await generate_answer(backend, plan))
    assert token not in str(backend.requests[0].messages)
    assert apply_edits(request.document.text, list(change.edits)) == (
        f'API_TOKEN = "{token}"\nx = 1\n'
    )
