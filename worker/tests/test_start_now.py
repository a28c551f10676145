"""start_now: a request's coroutine runs its first step in the read callback that got it, and
behaves as a task from then on (results, errors, cancellation, context)."""

import asyncio
import contextvars

import pytest

from conftest import W

VAR = contextvars.ContextVar("var", default="caller")


try:
    import uvloop
except ImportError:  # the worker runs on asyncio's own loop then
    uvloop = None

LOOPS = [asyncio.new_event_loop] + ([uvloop.new_event_loop] if uvloop is not None else [])


def run(coro_fn):
    for new_loop in LOOPS:
        loop = new_loop()
        try:
            loop.run_until_complete(coro_fn())
        finally:
            loop.close()


def test_first_step_runs_before_the_loop_iterates():
    seen = []

    async def body(fut):
        seen.append("started")
        v = await fut
        seen.append(v)
        return v * 2

    async def main():
        loop = asyncio.get_running_loop()
        seen.clear()  # once per kind of loop
        fut = loop.create_future()
        task = W.start_now(loop, body(fut))
        assert seen == ["started"]  # no iteration of the loop yet
        fut.set_result(21)
        assert await task == 42
        assert seen == ["started", 21]

    run(main)


def test_a_coroutine_that_never_waits_and_one_that_fails():
    async def done_at_once():
        return "x"

    async def fails_at_once():
        raise ValueError("no")

    async def fails_later(fut):
        await fut
        raise KeyError("later")

    async def main():
        loop = asyncio.get_running_loop()
        assert await W.start_now(loop, done_at_once()) == "x"
        with pytest.raises(ValueError):
            await W.start_now(loop, fails_at_once())
        fut = loop.create_future()
        t = W.start_now(loop, fails_later(fut))
        loop.call_soon(fut.set_result, None)
        with pytest.raises(KeyError):
            await t

    run(main)


def test_a_failed_future_raises_inside_the_coroutine():
    async def body(fut):
        try:
            await fut
        except RuntimeError as e:
            return "caught %s" % e

    async def main():
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        t = W.start_now(loop, body(fut))
        fut.set_exception(RuntimeError("boom"))
        assert await t == "caught boom"

    run(main)


def test_cancel_reaches_the_coroutine_which_may_clean_up_with_awaits():
    log = []

    async def body(fut):
        try:
            await fut
        except asyncio.CancelledError:
            log.append("cancelled")
            await asyncio.sleep(0)
            await asyncio.sleep(0.001)
            log.append("cleaned up")
            raise

    async def main():
        loop = asyncio.get_running_loop()
        log.clear()  # once per kind of loop
        fut = loop.create_future()
        t = W.start_now(loop, body(fut))
        await asyncio.sleep(0)
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t
        assert t.cancelled()
        assert log == ["cancelled", "cleaned up"]

    run(main)


def test_cancel_after_the_awaited_future_completed_is_not_lost():
    """The task is cancelled in the same iteration that completes its future: asyncio throws
    CancelledError into the task, and the coroutine must see it rather than the result."""
    got = []

    async def body(fut):
        try:
            got.append(await fut)
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            got.append("cancelled")
            raise

    async def main():
        loop = asyncio.get_running_loop()
        got.clear()  # once per kind of loop
        fut = loop.create_future()
        t = W.start_now(loop, body(fut))
        await asyncio.sleep(0)  # the task waits on fut
        fut.set_result(1)
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t
        assert got == ["cancelled"]

    run(main)


def test_the_first_step_sets_context_in_the_task_not_in_the_caller():
    async def body(fut):
        VAR.set("task")
        await fut
        return VAR.get()

    async def main():
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        t = W.start_now(loop, body(fut))
        assert VAR.get() == "caller"
        fut.set_result(None)
        assert await t == "task"
        assert VAR.get() == "caller"

    run(main)
