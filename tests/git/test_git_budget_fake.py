"""Budgeting, strategy choice and what reaches the backend, with the scripted backend (fast).

The same properties are checked on the real model in test_git_real_model.py.
"""

from __future__ import annotations

import time

import pytest

from codeslm.backends.fake import FakeBackend
from codeslm.config import Config
from codeslm.config.measured_speed import MeasuredSpeed
from codeslm.git.budget import fit, render_patch, truncate, units
from codeslm.git.changes import collect
from codeslm.git.diff import parse_diff
from codeslm.git.message import MessageWriter, make_counter
from codeslm.git.repo import GitRepo
from codeslm.git.style import CommitStyle

from .conftest import Repo


def _big_repo(repo: Repo, files: int = 4, lines: int = 120) -> GitRepo:
    for i in range(files):
        repo.write(f"pkg/mod{i}.py", "".join(f"def f{i}_{n}(x):\n    return x + {n}\n"
                                             for n in range(lines)))
    repo.write("pkg/small.py", "A = 1\n")
    repo.git("add", "-A")
    return GitRepo(repo.path)


async def test_fit_water_fills_and_marks_cuts(repo: Repo) -> None:
    git = _big_repo(repo)
    files = parse_diff(git.diff())
    count = make_counter(FakeBackend())
    fitted = await fit(files, 600, count)
    assert fitted.tokens <= 600 and not fitted.complete
    assert "pkg/small.py" not in fitted.cut_files and "A = 1" in fitted.text
    assert len(fitted.cut_files) == 4
    assert "more changed lines of pkg/mod0.py not shown" in fitted.text
    whole = await fit(files, 10**6, count)
    assert whole.complete and whole.text == "".join(render_patch(f) for f in files)
    assert await truncate(files[0], 5, count) == ""


async def test_units_fit_the_budget(repo: Repo) -> None:
    files = parse_diff(_big_repo(repo).diff())
    count = make_counter(FakeBackend())
    pieces = await units(files, 400, count)
    assert all([await count(text) <= 400 for _, text in pieces])
    assert {label for label, _ in pieces} >= {"pkg/mod0.py", "pkg/mod3.py"}


async def test_strategies(repo: Repo) -> None:
    git = _big_repo(repo)
    config = Config()
    changes = collect(git, config)
    backend = FakeBackend(["adds helpers", "adds more", "adds more", "adds more", "adds more",
                           "feat: add helper functions"])
    writer = MessageWriter(backend, config)
    result = await writer.write(changes, CommitStyle(), budget=300, strategy="map-reduce")
    assert result.strategy == "map-reduce" and result.model_calls >= 3
    assert result.message == "feat: add helper functions"
    assert any("per-file summaries" in n for n in result.notes)
    last = backend.requests[-1].messages[-1].content
    assert "Summary of the changes, per file:" in last and "pkg/mod0.py" in last

    backend = FakeBackend("Added helper functions.")
    result = await MessageWriter(backend, config).write(
        changes, CommitStyle(), budget=300, deadline=time.monotonic() + 60)
    assert result.strategy == "truncate" and result.model_calls == 1
    assert result.message == "feat: added helper functions"
    assert any("shortened" in n for n in result.notes)

    repo.git("reset", "-q")
    repo.git("add", "pkg/small.py")
    backend = FakeBackend("fix: typo")
    result = await MessageWriter(backend, config).write(collect(git, config), CommitStyle())
    assert result.strategy == "full" and result.notes == []


async def test_docs_only_change_is_typed_docs(repo: Repo) -> None:
    repo.write("README.md", "# Title\n\nUsage.\n")
    repo.git("add", "-A")
    result = await MessageWriter(FakeBackend("feat: describe usage"), Config()).write(
        collect(GitRepo(repo.path), Config()), CommitStyle())
    assert result.message == "docs: describe usage"


async def test_only_withheld_files_still_get_a_message(repo: Repo) -> None:
    repo.write("package-lock.json", "{}\n")
    repo.git("add", "-A")
    backend = FakeBackend("build: update the lockfile")
    result = await MessageWriter(backend, Config()).write(
        collect(GitRepo(repo.path), Config()), CommitStyle())
    assert result.message == "build: update the lockfile"
    prompt = backend.requests[0].messages[-1].content
    assert "package-lock.json" in prompt and "every changed file is withheld" in prompt


async def test_many_files_get_whole_patches_smallest_first(repo: Repo) -> None:
    for i in range(200):
        repo.write(f"tests/data/case{i:03}.toml", f"key{i} = {i}\n" * (1 + i % 7))
    repo.git("add", "-A")
    files = parse_diff(GitRepo(repo.path).diff())
    fitted = await fit(files, 300, make_counter(FakeBackend()))
    shown = [f.path for f in files if f.path not in fitted.dropped_files]
    assert 5 <= len(shown) <= 60 and len(fitted.cut_files) <= 1
    assert "key0 = 0" in fitted.text and fitted.tokens <= 300


async def test_an_answer_about_the_worked_example_is_replaced(repo: Repo) -> None:
    for i in range(3):
        repo.write(f"data/f{i}.txt", f"{i}\n")
    repo.git("add", "-A")
    backend = FakeBackend("feat(tests): add tests for cart functionality")
    result = await MessageWriter(backend, Config()).write(
        collect(GitRepo(repo.path), Config()), CommitStyle())
    assert result.message == "feat: add 3 files in data"
    assert any("worked example" in n for n in result.notes)


def _edited_repo(repo: Repo, files: int = 3) -> GitRepo:
    """Files of 120 lines each with one change deep inside: every patch opens with context."""
    body = "".join(f"value_{n} = {n}\n" for n in range(120))
    for i in range(files):
        repo.write(f"pkg/conf{i}.py", body)
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "base")
    for i in range(files):
        repo.write(f"pkg/conf{i}.py", body.replace("value_60 = 60\n", f"value_60 = {600 + i}\n"
                                                   + "".join(f"extra_{i}_{k} = {k}\n"
                                                             for k in range(40))))
    repo.git("add", "-A")
    return GitRepo(repo.path)


async def test_a_cut_patch_shows_changed_lines_not_just_context(repo: Repo) -> None:
    files = parse_diff(_edited_repo(repo).diff())
    count = make_counter(FakeBackend())
    fitted = await fit(files, 3 * 90, count)
    # Each share is too small for the three context lines and a change; before, every patch
    # was dropped and the model saw no diff at all.
    assert not fitted.dropped_files and len(fitted.cut_files) == 3
    for i in range(3):
        assert f"+value_60 = {600 + i}" in fitted.text
    assert "value_57 = 57" not in fitted.text and fitted.tokens <= 270


async def test_what_a_dropped_patch_leaves_goes_to_the_next(repo: Repo) -> None:
    git = _edited_repo(repo)
    long_line = "total = " + " + ".join(str(k) for k in range(200)) + "\n"
    path = repo.path / "pkg/conf0.py"
    path.write_text(path.read_text().replace("value_60 = 600\n", "value_60 = 60\n" + long_line))
    repo.git("add", "-A")
    files = parse_diff(git.diff())
    count = make_counter(FakeBackend())
    alone = await truncate(files[1], 90, count)
    fitted = await fit(files, 3 * 90, count)
    # conf0's one change is longer than its share: dropped, and its share went on to conf1.
    assert fitted.dropped_files == ["pkg/conf0.py"]
    assert fitted.text.count("+extra_1_") > alone.count("+extra_1_")
    assert fitted.tokens <= 270


async def test_the_hook_cuts_the_diff_to_the_time_left(repo: Repo) -> None:
    git = _big_repo(repo)
    changes = collect(git, Config())
    speed = MeasuredSpeed(prefill_tps=100.0, decode_tps=20.0, measured_at="now")
    # 0.5 s margin + 24 tokens at 20/s = 1.7 s; 3 s leaves ~1.3 s, ~130 tokens for the turn.
    backend = FakeBackend(["feat: add helpers"])
    result = await MessageWriter(backend, Config()).write(
        changes, CommitStyle(), budget=600, deadline=time.monotonic() + 3.0, speed=speed
    )
    turn = backend.requests[0].messages[-1].content
    assert any("to finish in time" in note for note in result.notes)
    assert await make_counter(backend)(turn) <= 140
    # With time to spare the budget stands, and without a measured speed nothing changes.
    for kwargs in ({"speed": speed, "deadline": time.monotonic() + 60}, {"deadline": 1e12}):
        backend = FakeBackend(["feat: add helpers"])
        result = await MessageWriter(backend, Config()).write(
            changes, CommitStyle(), budget=600, **kwargs
        )
        assert not any("to finish in time" in note for note in result.notes)
        assert await make_counter(backend)(backend.requests[0].messages[-1].content) > 500


async def test_no_time_for_any_patch_still_sends_the_file_list(repo: Repo) -> None:
    changes = collect(_big_repo(repo), Config())
    slow = MeasuredSpeed(prefill_tps=10.0, decode_tps=5.0, measured_at="now")
    backend = FakeBackend(["feat: add helpers"])
    result = await MessageWriter(backend, Config()).write(
        changes, CommitStyle(), budget=600, deadline=time.monotonic() + 6.0, speed=slow
    )
    turn = backend.requests[0].messages[-1].content
    assert "pkg/mod0.py" in turn and "the patches did not fit" in turn
    assert result.message.startswith("feat")


async def test_an_answer_still_running_at_the_deadline_keeps_its_finished_lines(
        repo: Repo) -> None:
    changes = collect(_big_repo(repo), Config())
    answer = "feat: add helper functions\n\n" + " ".join(["More body text."] * 40)
    # Each piece takes 20 ms: the subject is done in well under a second, the body is not.
    backend = FakeBackend([answer], delay_s=0.02)
    result = await MessageWriter(backend, Config()).write(
        changes, CommitStyle(), budget=300, deadline=time.monotonic() + 1.5
    )
    assert result.message == "feat: add helper functions"
    assert any("cut at the time limit" in note for note in result.notes)
    assert backend.cancelled == 1  # the stream was closed, so the backend stopped
    # Not even a subject line by then: no message (the hook then lets the commit go on).
    slow = FakeBackend(["feat: add helper functions"], delay_s=0.5)
    with pytest.raises(TimeoutError):
        await MessageWriter(slow, Config()).write(
            changes, CommitStyle(), budget=300, deadline=time.monotonic() + 1.0
        )


async def test_with_many_files_a_bulk_folder_and_empty_files_go_last(repo: Repo) -> None:
    for i in range(60):
        repo.write(f"tests/data/case{i:03}.toml", f"key{i} = {i}\n")
    repo.write("tests/data/empty.toml", "")
    repo.write("pkg/app.py", "".join(f"def handler_{n}():\n    return {n}\n" for n in range(6)))
    repo.git("add", "-A")
    files = parse_diff(GitRepo(repo.path).diff())
    fitted = await fit(files, 300, make_counter(FakeBackend()))
    # The one source file is larger than each data file, and still sent first, whole.
    assert "def handler_5():" in fitted.text and "pkg/app.py" not in fitted.cut_files
    assert "key0 = 0" in fitted.text  # then the smallest of the bulk folder
    assert "tests/data/empty.toml" in fitted.dropped_files


@pytest.mark.parametrize(("backend_name", "loaded_local", "learned"), [
    ("llama-cpp", True, True),  # the daemon times a loaded model: its answer is a measurement
    ("llama-cpp", False, False),  # in this process the first answer also paid the load
    ("embedded", False, False),
    ("openai", True, False),  # a server's speed is not this machine's
])
async def test_the_hook_records_its_speed_when_no_doctor_measured(
    repo: Repo, backend_name: str, loaded_local: bool, learned: bool
) -> None:
    from codeslm.config import measured_speed
    from codeslm.git import ahead

    config = Config()
    config.backend = backend_name
    plan = ahead.plan(_big_repo(repo), config)
    assert plan is not None
    answer = "feat: add helper functions to every module of the package\n"
    backend = FakeBackend([answer], delay_s=0.01)
    backend.times_loaded_local_model = loaded_local
    await ahead.hook_message(plan, config, backend, deadline=time.monotonic() + 60)
    assert (measured_speed.read("fake") is not None) == learned
    if learned:  # a measurement is never replaced by a later answer's timings
        before = measured_speed.read("fake")
        await ahead.hook_message(plan, config, FakeBackend([answer], delay_s=0.05),
                                 deadline=time.monotonic() + 60)
        assert measured_speed.read("fake") == before
