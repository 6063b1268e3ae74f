"""Debounce, superseding, client cancellation and CPU accounting of completion requests."""

from __future__ import annotations

import asyncio

import pytest

from codeslm.completion.scheduler import CpuLedger, Scheduler, Superseded


async def test_debounced_burst_costs_one_model_call() -> None:
    scheduler = Scheduler()
    calls: list[int] = []

    async def work(i: int) -> int:
        calls.append(i)
        return i

    results = await asyncio.gather(*(
        scheduler.run("doc", lambda i=i: work(i), debounce_s=0.05) for i in range(5)))
    assert results == [Superseded("waiting")] * 4 + [4]
    assert calls == [4]
    assert scheduler.stats.debounced == 4 and scheduler.stats.cancelled == 0


async def test_superseded_model_call_is_cancelled_and_counted() -> None:
    scheduler = Scheduler()
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def slow() -> str:
        started.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "late"

    async def fast() -> str:
        return "new"

    first = asyncio.ensure_future(scheduler.run("doc", slow))
    await started.wait()
    second = await scheduler.run("doc", fast)
    assert second == "new"
    assert await first == Superseded("model")
    assert cancelled.is_set()
    assert scheduler.stats.cancelled == 1


async def test_other_documents_are_not_superseded() -> None:
    scheduler = Scheduler()

    async def value(v: str) -> str:
        await asyncio.sleep(0.01)
        return v

    a, b = await asyncio.gather(scheduler.run("a", lambda: value("A")),
                                scheduler.run("b", lambda: value("B")))
    assert (a, b) == ("A", "B")


async def test_client_cancel_propagates_and_stops_the_work() -> None:
    scheduler = Scheduler()
    started = asyncio.Event()
    stopped = asyncio.Event()

    async def slow() -> str:
        started.set()
        try:
            await asyncio.sleep(10)
        finally:
            stopped.set()
        return "never"

    handler = asyncio.ensure_future(scheduler.run("doc", slow))
    await started.wait()
    handler.cancel()  # what pygls does on $/cancelRequest
    with pytest.raises(asyncio.CancelledError):
        await handler
    await asyncio.wait_for(stopped.wait(), 1)
    assert scheduler.stats.client_cancelled == 1 and scheduler.stats.cancelled == 1


def test_cpu_ledger_splits_time_between_active_calls() -> None:
    now = [0.0]
    ledger = CpuLedger(clock=lambda: now[0])
    ledger.start(1)
    now[0] = 1.0
    ledger.start(2)
    now[0] = 3.0
    assert ledger.stop(1) == pytest.approx(2.0)  # 1s alone + half of 2s
    now[0] = 4.0
    assert ledger.stop(2) == pytest.approx(2.0)  # half of 2s + 1s alone
    now[0] = 4.5
    ledger.start(3)
    assert ledger.unattributed == pytest.approx(0.5)
    now[0] = 5.0
    ledger.stop(3, cancelled=True)
    now[0] = 5.3  # the cancelled generation still finishing its batch
    ledger.start(4)
    assert ledger.drain == pytest.approx(0.3) and ledger.unattributed == pytest.approx(0.5)


def test_adaptive_debounce_follows_the_typing_rhythm() -> None:
    from codeslm.completion.scheduler import TypingRhythm

    now = [0.0]
    rhythm = TypingRhythm(clock=lambda: now[0])
    assert rhythm.debounce("doc", 0.15, 0.4) == 0.15  # no history yet
    for gap in (0.16, 0.18, 0.2, 0.17, 0.22, 3.0, 0.19):  # 3.0 s is a pause, not rhythm
        now[0] += gap
        rhythm.edit("doc")
    assert rhythm.debounce("doc", 0.15, 0.4) == pytest.approx(1.2 * 0.2)
    assert rhythm.debounce("doc", 0.15, 0.2) == 0.2  # capped
    assert rhythm.debounce("doc", 0.15, 0.0) == 0.15  # adaptive off
    assert rhythm.debounce("other", 0.15, 0.4) == 0.15
    rhythm.forget("doc")
    assert rhythm.debounce("doc", 0.15, 0.4) == 0.15
