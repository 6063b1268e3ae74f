"""Review: rule findings, model answers pinned to added lines, text/JSON/SARIF output."""

from __future__ import annotations

import json

from codeslm.backends.fake import FakeBackend
from codeslm.config import Config
from codeslm.git.changes import collect
from codeslm.git.diff import parse_diff
from codeslm.git.repo import GitRepo
from codeslm.git.report import as_sarif, render
from codeslm.git.review import numbered, parse_answer, review

from .conftest import Repo

BEFORE = "import os\n\n\ndef load(path):\n    return open(path).read()\n"
AFTER = (
    "import os\n\n\ndef load(path):\n    breakpoint()\n    try:\n        return open(path).read()\n"
    "    except OSError:\n        pass\n\n\nTOKEN = \"ghp_abcdefghijklmnopqrstuvwxyz0123456789\"\n"
)


def _staged(repo: Repo) -> GitRepo:
    repo.write("app.py", BEFORE)
    repo.commit("feat: load")
    repo.write("app.py", AFTER)
    repo.write("web/ui.js", "function f(){\n  console.log('x');\n  debugger;\n}\n")
    repo.write(".env", "SECRET=abc\n")
    repo.git("add", "-A")
    return GitRepo(repo.path)


async def test_rules_find_debug_code_swallowed_errors_and_secrets(repo: Repo) -> None:
    result = await review(collect(_staged(repo), Config()), Config(), None)
    got = {(f.path, f.line, f.rule) for f in result.findings}
    assert got == {
        (".env", 1, "secret"), ("app.py", 5, "debug-code"), ("app.py", 8, "swallowed-error"),
        ("app.py", 12, "secret"), ("web/ui.js", 2, "debug-code"), ("web/ui.js", 3, "debug-code"),
    }
    assert all(f.source == "rule" for f in result.findings)


async def test_model_findings_off_the_added_lines_are_dropped(repo: Repo) -> None:
    git = _staged(repo)
    answer = ("5: high: leftover breakpoint\n"
              "- line 7: medium: file handle never closed\n"
              "1: low: unused import os\n"       # context line: dropped
              "99: high: invented line\n"       # not in the file: dropped
              "NONE\n")
    backend = FakeBackend(answer)
    result = await review(collect(git, Config()), Config(), backend)
    model = [(f.path, f.line, f.severity) for f in result.findings if f.source == "model"]
    assert ("app.py", 7, "medium") in model and ("app.py", 5, "high") in model
    added = {f.path: f.added_lines() for f in parse_diff(git.diff())}
    assert all(line in added[path] for path, line, _ in model)
    assert ("app.py", 1, "low") not in model
    assert result.dropped >= 2 and result.model_calls == 2  # app.py and web/ui.js
    assert not any("ghp_" in m.content for r in backend.requests for m in r.messages)


async def test_backend_down_keeps_rule_findings(repo: Repo) -> None:
    result = await review(collect(_staged(repo), Config()), Config(), FakeBackend(down=True))
    assert result.findings and any("no model review" in n for n in result.notes)


def test_numbered_lines_and_parse(repo: Repo) -> None:
    git = _staged(repo)
    file = next(f for f in parse_diff(git.diff()) if f.path == "app.py")
    text = numbered(file.hunks)
    assert "    5 +     breakpoint()" in text and "    4   def load(path):" in text
    assert "      -     return open(path).read()" in text
    found, dropped = parse_answer("app.py:6: low: try block\n3: high: x\n"
                                  "2. 7: Medium: file never closed\n", file)
    assert [(f.line, f.severity) for f in found] == [(6, "low"), (7, "medium")]
    assert dropped == 1


async def test_reports(repo: Repo) -> None:
    result = await review(collect(_staged(repo), Config()), Config(), None)
    text = render(result, "text")
    assert "app.py:5: medium: leftover breakpoint() [debug-code]\n" in text
    data = json.loads(render(result, "json"))
    assert data["findings"][0].keys() >= {"path", "line", "severity", "message", "rule"}
    sarif = as_sarif(result)
    assert sarif["version"] == "2.1.0"
    run = sarif["runs"][0]
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    for res in run["results"]:
        assert rules[res["ruleIndex"]] == res["ruleId"]
        assert res["level"] in {"error", "warning", "note"}
        region = res["locations"][0]["physicalLocation"]["region"]
        assert region["startLine"] >= 1
    json.dumps(sarif)


def test_repetitive_answers_are_cut(repo: Repo) -> None:
    file = next(f for f in parse_diff(_staged(repo).diff()) if f.path == "app.py")
    answer = "".join(f"{n}: medium: the variable is not used\n" for n in range(5, 12))
    found, dropped = parse_answer("6: high: real problem\n" + answer, file)
    assert [f.line for f in found] == [6, 5] and dropped == 6
