"""The member names offered after ``receiver.`` (the constraint on the model's first
identifier): complete sets from a small real repository, and no set wherever the source
cannot tell them all."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from codeslm.backends.fake import FakeBackend
from codeslm.completion.request import CompletionOptions
from codeslm.config import Config
from codeslm.context import WorkspaceProvider
from codeslm.context.members import class_bases, remainders
from codeslm.context.port import estimate_tokens
from codeslm.engine import CompletionEngine
from codeslm.types import CompletionMode, Document, Position

from .conftest import write_repo

FILES = {
    "app/__init__.py": "from .results import RunResult\nfrom . import results\n",
    "app/base.py": '''import abc
from dataclasses import dataclass


@dataclass
class ResultBase(abc.ABC):
    new_items: list
    final_output: object

    def to_input_list(self) -> list:
        return list(self.new_items)
''',
    "app/results.py": '''from dataclasses import dataclass

from .base import ResultBase

LIMIT = 3
if LIMIT:
    FALLBACK = "x"


@dataclass
class RunResult(ResultBase):
    current_turn: int = 0

    def __init__(self):
        self._cache = {}
        self.last_agent = None

    @property
    def is_complete(self) -> bool:
        return True


class Lazy:
    def __getattr__(self, name):
        return name


class Model(SomeOutsideBase):
    field: int


class Failure(Exception):
    code: int = 1


def run(query: str) -> RunResult:
    return RunResult()
''',
    "app/use.py": '''from app import results
from app.results import RunResult, Lazy, Model, Failure, run


def first(result: RunResult):
    inputs = result.
    return inputs


def second(query):
    outcome = run(query)
    value = outcome.


def rebound(result: RunResult):
    result = make_other()
    return result.


def others(lazy: Lazy, model: Model, err: Failure):
    a = lazy.
    b = model.
    c = err.
    d = results.
    e = self.
    f = result.to_input_list().
    g = "result.
    h = RunResult.
''',
}


@pytest.fixture
def provider(tmp_path: Path) -> WorkspaceProvider:
    root = write_repo(tmp_path / "members", FILES)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    p = WorkspaceProvider.open(root, Config())
    yield p
    p.close()


def _names(provider: WorkspaceProvider, marker: str, *, typed: str = "") -> tuple[str, ...]:
    rel = "app/use.py"
    text = (provider.index.root / rel).read_text()
    offset = text.index(marker) + len(marker)
    text = text[:offset] + typed + text[offset:]
    doc = Document(text, str(provider.index.root / rel), "python")
    ctx = provider.context_for(doc, offset + len(typed), budget_tokens=300,
                               count_tokens=estimate_tokens)
    return ctx.member_names


def test_a_class_and_its_bases_give_every_member(provider: WorkspaceProvider) -> None:
    names = set(_names(provider, "    inputs = result."))
    # fields, methods, properties, self attributes, and the base class's members
    assert {"current_turn", "is_complete", "last_agent", "_cache", "new_items", "final_output",
            "to_input_list", "__class__"} <= names
    assert "run" not in names and "LIMIT" not in names


def test_what_the_user_typed_narrows_to_the_rest_of_the_names(
        provider: WorkspaceProvider) -> None:
    assert _names(provider, "    inputs = result.", typed="to_") == ("input_list",)
    assert _names(provider, "    inputs = result.", typed="nothing_like_it") == ()


def test_a_call_annotated_to_return_the_class_and_the_class_itself(
        provider: WorkspaceProvider) -> None:
    assert "current_turn" in _names(provider, "    value = outcome.")
    assert "is_complete" in _names(provider, "    h = RunResult.")


def test_a_module_gives_its_top_level_names(provider: WorkspaceProvider) -> None:
    names = set(_names(provider, "    d = results."))
    assert {"RunResult", "Lazy", "run", "LIMIT", "FALLBACK", "dataclass", "ResultBase",
            "__name__"} <= names
    assert "current_turn" not in names


def test_a_well_known_library_base_adds_its_members(provider: WorkspaceProvider) -> None:
    assert {"code", "args", "with_traceback"} <= set(_names(provider, "    c = err."))


@pytest.mark.parametrize("marker", [
    "    return result.",  # rebound to something of unknown type since the annotation
    "    a = lazy.",  # __getattr__ makes names up
    "    b = model.",  # a base from outside the repository that is not known
    "    e = self.",  # a class being written gains attributes
    "    f = result.to_input_list().",  # a chain: the type of the call is not followed
    '    g = "result.',  # inside a string
])
def test_no_set_where_the_source_cannot_tell(provider: WorkspaceProvider, marker: str) -> None:
    assert _names(provider, marker) == ()


def test_code_after_the_cursor_and_the_setting_turn_it_off(
        provider: WorkspaceProvider) -> None:
    assert _names(provider, "    inputs = result.", typed="") != ()
    rel = "app/use.py"
    text = (provider.index.root / rel).read_text()
    offset = text.index("    inputs = result.") + len("    inputs = result.")
    mid = Document(text[:offset] + "to_input_list()" + text[offset:],
                   str(provider.index.root / rel), "python")
    ctx = provider.context_for(mid, offset, budget_tokens=300, count_tokens=estimate_tokens)
    assert ctx.member_names == ()  # editing inside an existing name
    provider.config.context.member_constraint = False
    assert _names(provider, "    inputs = result.") == ()


def test_infile_scope_reads_only_the_current_file(tmp_path: Path) -> None:
    root = write_repo(tmp_path / "members", FILES)
    provider = WorkspaceProvider.open(root, Config(), scope="infile")
    try:
        assert _names(provider, "    inputs = result.") == ()
    finally:
        provider.close()


def test_the_engine_passes_the_names_to_the_backend(provider: WorkspaceProvider) -> None:
    import asyncio

    rel = "app/use.py"
    text = (provider.index.root / rel).read_text()
    marker = "    inputs = result."
    offset = text.index(marker) + len(marker)
    line = text[:offset].count("\n")
    doc = Document(text, str(provider.index.root / rel), "python")
    engine = CompletionEngine(FakeBackend("x"), provider.config, context_provider=provider)
    options = CompletionOptions(mode=CompletionMode.SINGLE_LINE)
    plan = asyncio.run(engine.plan(doc, Position(line, len(marker)), options))
    assert "to_input_list" in plan.request.first_identifier
    options = CompletionOptions(mode=CompletionMode.SINGLE_LINE, use_context=False)
    plain = asyncio.run(engine.plan(doc, Position(line, len(marker)), options))
    assert plain.request.first_identifier == ()


def test_readers() -> None:
    assert class_bases("class A(pkg.Base, Generic[T], metaclass=Meta):") == ["Base", "Generic"]
    assert class_bases("class A:") == []
    assert class_bases("class A(\n    Base,\n") is None  # the header goes on: unknown
    assert remainders(["final_output", "final_output_as", "input"], "final_") == (
        "output", "output_as")
