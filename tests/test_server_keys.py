"""KeyPool: priority order, cool-down on virtual time, exclusion."""

from __future__ import annotations

import pytest
import trio
from trio.testing import MockClock

from codexglm.server.keys import KeyPool

# `autojump_clock` is pytest-trio's MockClock(autojump_threshold=0) fixture.


async def test_first_key_is_used_until_it_cools_down(autojump_clock: MockClock) -> None:
    pool = KeyPool(["k1", "k2", "k3"])
    assert [pool.pick() for _ in range(3)] == ["k1", "k1", "k1"]
    pool.cool_down("k1", 30)
    assert pool.pick() == "k2"
    assert pool.cooling() == 1
    await trio.sleep(31)
    assert pool.pick() == "k1"
    assert pool.cooling() == 0


async def test_all_cooling_returns_the_one_free_soonest(autojump_clock: MockClock) -> None:
    pool = KeyPool(["k1", "k2"])
    pool.cool_down("k1", 20)
    pool.cool_down("k2", 5)
    assert pool.pick() == "k2"
    # A shorter cool-down never shortens a longer one already running.
    pool.cool_down("k1", 1)
    assert pool.cooling_until("k1") == pytest.approx(trio.current_time() + 20)


async def test_excluded_keys_are_never_returned() -> None:
    pool = KeyPool(["k1", "k2"])
    assert pool.pick(exclude={"k1"}) == "k2"
    assert pool.pick(exclude={"k1", "k2"}) is None


async def test_duplicates_and_empty_keys_are_dropped_and_index_is_1_based() -> None:
    pool = KeyPool(["k1", "", "k2", "k1"])
    assert len(pool) == 2
    assert pool.index("k2") == 2
    assert KeyPool([]).pick() is None
