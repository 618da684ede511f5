"""The middleware's batcher: requests queued while a batch runs go together, in order, within bounds."""

from __future__ import annotations

import asyncio
import time

import pytest

from serving.batcher import Batcher, Overloaded


class Model:
    """Answers each record with itself doubled and remembers every call's size; optionally slow or failing."""

    def __init__(self, seconds: float = 0.0, fail_on: int | None = None):
        self.calls: list[int] = []
        self.seconds, self.fail_on = seconds, fail_on

    def __call__(self, records: list[int]) -> list[int]:
        self.calls.append(len(records))
        if self.fail_on in records:
            raise RuntimeError("the model failed")
        time.sleep(self.seconds)  # blocks the loop, as a real model call does
        return [2 * r for r in records]


async def arrive_together(batcher: Batcher, requests: list[list[int]]) -> list:
    return await asyncio.gather(*(batcher.submit(r) for r in requests), return_exceptions=True)


def test_a_lone_request_is_answered_at_once_and_requests_that_arrive_together_share_a_call():
    model = Model()
    batcher = Batcher(model, max_records=256, max_wait_seconds=2)
    assert asyncio.run(arrive_together(batcher, [[1]])) == [[2]]
    answers = asyncio.run(arrive_together(batcher, [[i, i + 100] for i in range(40)]))
    assert answers == [[2 * i, 2 * (i + 100)] for i in range(40)]
    assert model.calls == [1, 80]


def test_queued_requests_are_taken_oldest_first_up_to_the_bound_and_a_request_is_never_split():
    model = Model(seconds=0.05)
    batcher = Batcher(model, max_records=10, max_wait_seconds=2)

    async def scenario() -> list:
        first = asyncio.ensure_future(batcher.submit([0]))
        await asyncio.sleep(0)  # the first batch runs alone; the rest queue together
        rest = [asyncio.ensure_future(batcher.submit([i, i, i])) for i in range(1, 8)]
        return await asyncio.gather(first, *rest)

    answers = asyncio.run(scenario())
    assert answers == [[0]] + [[2 * i] * 3 for i in range(1, 8)]
    assert model.calls == [1, 9, 9, 3]  # 3 requests of 3 records fit in 10; a request is never split


def test_a_failing_batch_fails_its_own_requests_only_and_a_request_queued_too_long_is_shed():
    model = Model(fail_on=13)
    batcher = Batcher(model, max_records=2, max_wait_seconds=2)
    answers = asyncio.run(arrive_together(batcher, [[13], [5], [6], [7]]))
    assert isinstance(answers[0], RuntimeError) and isinstance(answers[1], RuntimeError)
    assert answers[2:] == [[12], [14]]

    slow = Batcher(Model(seconds=0.3), max_records=1, max_wait_seconds=0.1)
    first, shed = asyncio.run(arrive_together(slow, [[1], [2]]))
    assert first == [2] and isinstance(shed, Overloaded) and "retry" in str(shed)


@pytest.mark.parametrize("records", [[], [1] * 300])
def test_any_request_that_reaches_the_batcher_gets_an_answer(records):
    """Validation bounds a request to 1..256 records; the batcher still never drops an odd one."""
    model = Model()
    answers = asyncio.run(arrive_together(Batcher(model, max_records=256, max_wait_seconds=2), [records]))
    assert answers == [[2 * r for r in records]]
