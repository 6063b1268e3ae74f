"""``codeslm eval repo`` pieces: metrics, hole choice, and the no-leakage rule."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from codeslm.backends.fake import FakeBackend
from codeslm.config import Config
from codeslm.context.index import WorkspaceIndex
from codeslm.evaluation import holes
from codeslm.evaluation import repo as ev
from codeslm.session import Session, open_session

from .conftest import write_repo


def test_metrics() -> None:
    assert ev.levenshtein("kitten", "sitting") == 3
    assert ev.edit_similarity("", "") == 1.0
    assert ev.edit_similarity("abcd", "abcf") == 0.75
    assert ev.percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert ev.percentile([], 0.95) == 0.0
    assert ev.syntax_ok("x = f(1)\n", "x = \n", "python")
    assert not ev.syntax_ok("x = f(1\n", "x = 1\n", "python")
    assert ev.syntax_ok("anything (", "", None)


def _index(repo: Path, config: Config) -> WorkspaceIndex:
    index = WorkspaceIndex.open(repo, config.context)
    index.refresh(workers=1)
    return index


def test_holes_are_deterministic_cross_file_code_lines(repo: Path, config: Config) -> None:
    index = _index(repo, config)
    holes = ev.pick_holes(index, count=10, seed=3)
    assert holes == ev.pick_holes(index, count=10, seed=3)
    assert holes
    for hole in holes:
        line = (repo / hole.path).read_text().split("\n")[hole.line]
        assert line.strip() == hole.target and hole.indent == len(line) - len(line.lstrip())
        assert not hole.target.startswith(("import ", "from ", "def ", "class ", "#"))
        for name in hole.names:
            assert {p for p, _ in index.definitions(name)} - {hole.path}
    assert {h.path for h in holes} >= {"pkg/service.py"}
    index.close()


def test_api_cut_hides_the_line_from_its_first_cross_file_name(repo: Path, config: Config) -> None:
    """The CrossCodeEval split: the same lines as whole-line holes, the cursor right before the
    first use of a name defined in another file."""
    index = _index(repo, config)
    whole = ev.pick_holes(index, count=10, seed=3)
    api = ev.pick_holes(index, count=10, seed=3, cut="api")
    assert [h.id for h in api] == [h.id for h in whole]
    for hole in api:
        line = (repo / hole.path).read_text().split("\n")[hole.line]
        assert hole.column >= hole.indent and line[hole.column :].rstrip() == hole.target
        first = re.match(r"\w+", hole.target)
        assert first is not None and first.group() in hole.names, hole
    index.close()


def test_members_of_outside_modules_and_loggers_are_not_cross_file_names() -> None:
    assert holes._only_on_external("asyncio.run(main())", "run", {"asyncio"})
    assert not holes._only_on_external("app.run()", "run", {"asyncio"})
    assert not holes._only_on_external("asyncio.run(run())", "run", {"asyncio"})
    assert "debug" in holes._PY_BUILTIN_MEMBERS and "warning" in holes._PY_BUILTIN_MEMBERS


LEAKY = {
    "lib/api.py": "def helper_api(value, size):\n    return value * size\n",
    "app/main.py": "from lib.api import helper_api\n\n\ndef first(alpha_token):\n"
    "    prepared = prepare(alpha_token)\n"
    "    result = helper_api(alpha_token, 17)\n"
    "    return result\n\n\n"
    + "".join(f"def filler_{i}():\n    return {i}\n\n\n" for i in range(120))
    + "def later(alpha_token):\n    prepared = prepare(alpha_token)\n"
    "    LEAK_MARKER = helper_api(alpha_token, 99)\n",
}


def test_nothing_after_the_hole_reaches_the_prompt(tmp_path: Path) -> None:
    """The later copy of the lines before the hole is the perfect similar window for it, and
    it lies after the hole (beyond the local window): it must not be used."""
    root = write_repo(tmp_path / "leaky", LEAKY)
    config = Config()
    config.completion.latency_budget_ms = 0
    index = _index(root, config)
    holes = [
        h
        for h in ev.pick_holes(index, count=20, seed=0)
        if h.path == "app/main.py" and "helper_api(alpha_token, 17)" in h.target
    ]
    assert holes
    backend = FakeBackend("result = helper_api(alpha_token, 17)")
    settings = ev.RepoEvalSettings(
        str(root), "fake", 1, 0, ("none", "infile", "repo"), 768, 16, 3000, 1000, True
    )
    evaluation = ev.RepoEvaluation(index, _session(config, backend), settings)
    text = (root / "app/main.py").read_text()
    results = asyncio.run(evaluation.run_hole(holes[0], text))
    prompts = [r.prompt or "" for r in backend.requests]
    assert len(prompts) >= 3
    assert not any("LEAK_MARKER" in p for p in prompts)
    assert not any("helper_api(alpha_token, 17)" in p for p in prompts)
    assert any("def helper_api(value, size):" in p for p in prompts)  # repo context did work
    assert [r.mode for r in results] == ["none", "infile", "repo"]
    assert all(r.exact and r.syntax_ok for r in results), results
    # The index holds the whole file again afterwards.
    assert "later" in {s.name for s in index.entries["app/main.py"].symbols}
    # Cut at the API: the text before it on the line is the end of the prompt's prefix.
    (api_hole,) = [
        h for h in ev.pick_holes(index, count=20, seed=0, cut="api") if h.id == holes[0].id
    ]
    assert api_hole.target == "helper_api(alpha_token, 17)"
    backend = FakeBackend("helper_api(alpha_token, 17)")
    evaluation = ev.RepoEvaluation(index, _session(config, backend), settings)
    (result,) = asyncio.run(evaluation.run_hole(api_hole, text))[:1]
    assert result.exact and result.predicted == "helper_api(alpha_token, 17)"
    assert any("result = <|fim_suffix|>" in (r.prompt or "") for r in backend.requests)
    index.close()


def test_summary_and_resume_rows(tmp_path: Path) -> None:
    rows = [
        {
            "mode": "none",
            "hole": "a.py:1",
            "predicted": "f(x)",
            "api_match": True,
            "exact": True,
            "edit_similarity": 1.0,
            "syntax_ok": True,
            "latency_s": 1.0,
            "prompt_tokens": 100,
            "cached_prompt_tokens": 0,
            "context_s": 0.0,
            "probe_prompt_tokens": 100,
            "probe_cached_tokens": 90,
            "probe_latency_s": 0.2,
        },
        {
            "mode": "none",
            "hole": "a.py:2",
            "predicted": "g(y)",
            "exact": False,
            "edit_similarity": 0.5,
            "syntax_ok": False,
            "latency_s": 3.0,
            "prompt_tokens": 100,
            "cached_prompt_tokens": 0,
            "context_s": 0.0,
            "probe_prompt_tokens": None,
            "probe_cached_tokens": None,
            "probe_latency_s": None,
        },
    ]
    (summary,) = ev.summarize(rows, ["none"], {"a.py:2": ("h",)}, {"a.py:1": True})
    assert (summary.holes, summary.exact, summary.syntax_ok) == (2, 0.5, 0.5)
    assert (summary.first_use_holes, summary.first_use_exact) == (1, 1.0)
    assert summary.api_match == 0.5  # the second row predates api_match: computed from names
    assert ev.api_match("x = make_user(name)", ("make_user",))
    assert not ev.api_match("x = make_users(name)", ("make_user",))
    assert summary.edit_similarity == 0.75 and summary.p50_s == 2.0
    assert summary.probe_reuse == 0.9
    settings = ev.RepoEvalSettings("/r", "m", 2, 0, ("none",), 768, 48, 3000, 1000)
    out = tmp_path / "r.jsonl"
    import json

    out.write_text(json.dumps(settings.header()) + "\n" + json.dumps(rows[0]) + "\n")
    assert ev.load_results(out, settings) == [rows[0]]
    other = ev.RepoEvalSettings("/r", "m", 2, 1, ("none",), 768, 48, 3000, 1000)
    assert ev.load_results(out, other) == []


def test_a_hole_is_a_first_use_when_the_file_has_not_used_its_names_above(tmp_path: Path) -> None:
    """``first_use``: the hidden part's cross-file names appear nowhere above the hole but in
    the imports (only another file can tell the model); a later use of the same name is not
    a first use."""
    root = write_repo(
        tmp_path / "first",
        {
            "lib/shapes.py": "def make_circle(radius):\n    return radius\n",
            "app.py": "from lib.shapes import (\n    make_circle,\n)\n\n\n"
            "def first(size):\n    shape = make_circle(size)\n    return shape\n\n\n"
            "def second(size):\n    other = make_circle(size * 2)\n    return other\n",
        },
    )
    index = _index(root, Config())
    holes = {
        h.target: h for h in ev.pick_holes(index, count=10, seed=0, cut="api") if h.path == "app.py"
    }
    assert holes["make_circle(size)"].first_use
    assert not holes["make_circle(size * 2)"].first_use
    index.close()


def _session(config: Config, backend: FakeBackend) -> Session:
    """A session over the test's scripted backend."""
    return open_session(config, backend_factory=lambda _config: backend)
