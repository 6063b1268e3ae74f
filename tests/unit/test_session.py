"""The composition root: what a session builds, shares, renews and closes (scripted backend)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from codeslm.backends.fake import FakeBackend
from codeslm.completion.request import CompletionOptions, Cursor
from codeslm.config import Config
from codeslm.context import WorkspaceProvider
from codeslm.session import open_session
from codeslm.types import Document, Position

SOURCE = "from lib import scale\n\n\ndef area(r):\n    return \n"


def _config() -> Config:
    config = Config(backend="fake")
    config.completion.fim_format = "qwen2.5-coder"
    return config


async def test_nothing_is_built_until_used_and_everything_is_shared() -> None:
    built: list[FakeBackend] = []

    def factory(config: Config) -> FakeBackend:
        built.append(FakeBackend("3.14 * r * r"))
        return built[-1]

    session = open_session(_config(), backend_factory=factory)
    assert session.backend_if_built() is None and session.engine_if_built() is None
    engine = session.engine
    assert len(built) == 1 and engine.backend is built[0] and session.engine is engine
    other = session.engine_with(None)
    assert other is not engine and other.backend is built[0] and other.stats is session.stats
    assert session.scheduler.stats is session.stats  # one stats object for the session
    completion = await engine.complete(Document(SOURCE, "geo.py", "python"), Position(4, 11))
    assert completion.text == "3.14 * r * r"
    assert session.stats.engine_calls == 1 and session.stats.model_calls == 1
    await session.aclose()
    assert session.backend_if_built() is None and session.engine_if_built() is None


async def test_reconfigure_renews_the_engine_and_the_backend_only_when_asked() -> None:
    built: list[Config] = []

    def factory(config: Config) -> FakeBackend:
        built.append(config)
        backend = FakeBackend("x")
        backend.keeps_prompts = True  # quick_first needs it
        return backend

    session = open_session(_config(), backend_factory=factory)
    first = session.engine
    changed = _config()
    changed.completion.max_tokens = 7
    session.reconfigure(changed, new_backend=False)
    assert session.engine is not first and session.engine.config is changed and len(built) == 1
    session.reconfigure(_config(), new_backend=True, quick_first=True)
    assert session.engine.places.quick_first and len(built) == 2
    await session.aclose()


async def test_a_root_opens_the_workspace_index_and_the_session_closes_it(tmp_path: Path) -> None:
    (tmp_path / "lib.py").write_text("def scale(value, factor):\n    return value * factor\n")
    (tmp_path / "geo.py").write_text(SOURCE)
    backend = FakeBackend("scale(r, r)")
    async with open_session(_config(), tmp_path, backend_factory=lambda c: backend) as session:
        assert isinstance(session.workspace, WorkspaceProvider)
        document = Document(SOURCE, str(tmp_path / "geo.py"), "python")
        cursor = Cursor.at(document.text, Position(4, 11))
        await session.engine.complete(document, cursor, CompletionOptions(use_cache=False))
        assert "def scale(value, factor)" in (backend.requests[-1].prompt or "")
    assert session.workspace is None  # closed and dropped with the session


async def test_context_off_or_no_root_means_no_provider(tmp_path: Path) -> None:
    config = _config()
    config.context.enabled = False
    assert open_session(config, tmp_path).context is None
    assert open_session(_config()).context is None


async def test_candidates_sample_with_the_one_engine() -> None:
    backend = FakeBackend(["3.14 * r * r", "r ** 2 * 3.14", "pi * r * r"])
    session = open_session(_config(), backend_factory=lambda c: backend)
    document = Document(SOURCE, "geo.py", "python")
    found = await session.candidates.candidates(document, Position(4, 11), 3)
    assert [c.text for c in found] == ["3.14 * r * r", "r ** 2 * 3.14", "pi * r * r"]
    temperatures = [r.temperature for r in backend.requests]
    assert temperatures[0] == 0.0 and all(t >= 0.6 for t in temperatures[1:])
    # Every model call is the session's engine's (no sampling twin counting apart).
    assert session.stats.model_calls == len(backend.requests) == 3


async def test_alternatives_are_made_only_while_they_fit_the_budget() -> None:
    """A slow first answer (a new place on a CPU) comes alone within a budget; without one, or
    with room in it, all three come."""
    document = Document(SOURCE, "geo.py", "python")
    for budget, expected in ((0.06, 1), (5.0, 3), (None, 3)):
        backend = FakeBackend(["3.14 * r * r", "r ** 2 * 3.14", "pi * r * r"], delay_s=0.05)
        session = open_session(_config(), backend_factory=lambda c, b=backend: b)
        found = await session.candidates.candidates(document, Position(4, 11), 3, budget_s=budget)
        assert len(found) == len(backend.requests) == expected
        assert found[0].text == "3.14 * r * r"


class _Closing(FakeBackend):
    closed = False

    async def aclose(self) -> None:
        self.closed = True


async def test_a_fast_model_serves_the_typing_engine_from_a_second_backend() -> None:
    built: dict[str, _Closing] = {}

    def factory(config: Config) -> FakeBackend:
        built[config.model] = _Closing(f"'{config.model}'")
        return built[config.model]

    config = _config()
    config.model = "big"
    session = open_session(config, backend_factory=factory)
    assert session.typing_engine is session.engine and list(built) == ["big"]  # none set
    config.completion.fast_model = "small"
    session.reconfigure(config, new_backend=False)
    typing, explicit = session.typing_engine, session.engine
    assert typing is not explicit and typing.backend is built["small"]
    assert explicit.backend is built["big"] and typing.stats is session.stats
    assert session.typing_engine is typing  # built once
    assert session.engines_if_built() == [explicit, typing]
    document = Document(SOURCE, "geo.py", "python")
    assert (await typing.complete(document, Position(4, 11))).text == "'small'"
    assert (await explicit.complete(document, Position(4, 11))).text == "'big'"
    # Another fast model: its own backend, the old one closed; the main one stays.
    config.completion.fast_model = "tiny"
    session.reconfigure(config, new_backend=False)
    assert session.typing_engine.backend is built["tiny"]
    assert session.engine.backend is built["big"]
    await asyncio.sleep(0.01)
    assert built["small"].closed and not built["big"].closed
    old = dict(built)
    session.reconfigure(config, new_backend=True)  # both backends are replaced and closed
    assert session.engines_if_built() == []
    await asyncio.sleep(0.01)
    assert old["tiny"].closed and old["big"].closed
    _ = session.typing_engine
    await session.aclose()
    assert built["tiny"].closed and built["tiny"] is not old["tiny"]
