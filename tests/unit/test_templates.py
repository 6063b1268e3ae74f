"""Chat templates in prompts/: strict rendering, and every template pinned by a golden file."""

from __future__ import annotations

import pytest

from codeslm.errors import PromptError
from codeslm.templates import load_template, parse_template, template_names
from tests.golden import check_golden


@pytest.mark.parametrize("name", template_names())
def test_every_template_renders_as_pinned(name: str) -> None:
    template = load_template(name)
    values = {v: f"<{v.upper()}>" for v in template.variables}
    messages = template.render(**values)
    assert messages and all(m.role in {"system", "user", "assistant"} for m in messages)
    rendered = "\n".join(f"### {m.role}\n{m.content}" for m in messages)
    check_golden(f"templates/{name}.txt", rendered + "\n")


def test_missing_and_unknown_variables_are_errors() -> None:
    template = load_template("gen")
    with pytest.raises(PromptError, match="missing variable"):
        template.render(instruction="x")
    with pytest.raises(PromptError, match="unknown variable"):
        template.render(instruction="x", language="go", colour="red")


def test_defaults_fill_optional_variables() -> None:
    messages = load_template("gen").render(instruction="sort a list", language="python")
    assert messages[-1].content == "sort a list"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("### user\nhi", "must start with"),
        ("+++\nvariables = []\n### user\nhi", "not closed"),
        ("+++\nvariables = ['a']\n+++\n### user\nno placeholder", "do not match"),
        ("+++\nvariables = []\n+++\nstray\n### user\nhi", "before the first"),
        ("+++\nvariables = []\n+++\n", "no ### system/user"),
    ],
)
def test_malformed_templates_are_rejected(text: str, error: str) -> None:
    with pytest.raises(PromptError, match=error):
        parse_template("t", text)
