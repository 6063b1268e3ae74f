"""The daemon's debug line per generation (``CODESLM_LOG=debug``)."""

from __future__ import annotations

import logging

import pytest

from codeslm.backends.daemon.server import _Trace
from codeslm.types import Chunk, Usage


def test_a_cancelled_generation_logs_its_prompt_and_what_it_wrote(
    caplog: pytest.LogCaptureFixture,
) -> None:
    trace = _Trace(warm=False)
    assert trace.see(Chunk("", None, Usage(prompt_tokens=870, cached_prompt_tokens=183)))
    assert not trace.see(Chunk("dits]"))
    with caplog.at_level(logging.DEBUG, logger="codeslm.backends.daemon.server"):
        trace.log()
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith("generation cancelled after ")
    assert "870 prompt tokens, 687 evaluated, 5 characters" in line


def test_nothing_is_logged_above_debug(caplog: pytest.LogCaptureFixture) -> None:
    trace = _Trace(warm=True)
    trace.see(Chunk("", "stop", Usage(prompt_tokens=10)))
    with caplog.at_level(logging.INFO, logger="codeslm.backends.daemon.server"):
        trace.log()
    assert caplog.records == []
