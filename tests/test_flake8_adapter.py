"""The flake8 adapter's handling of the cyclic collector (see `adapters.flake8.frozen_after`)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from flake8_async_sqla.adapters.flake8 import frozen_after


class Node:
    pass


@pytest.fixture
def default_collector() -> Iterator[None]:
    """flake8's collector: the default thresholds, nothing frozen, nothing pending; as it was afterwards."""
    thresholds, enabled = gc.get_threshold(), gc.isenabled()
    gc.set_threshold(700, 10, 10)
    gc.unfreeze()
    gc.enable()
    gc.collect()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)
    (gc.enable if enabled else gc.disable)()


def garbage_cycle() -> weakref.ref[Node]:
    node = Node()
    node.itself = node  # type: ignore[attr-defined]
    return weakref.ref(node)


def test_what_a_check_keeps_is_frozen_and_garbage_collected_first(default_collector: None) -> None:
    dead = garbage_cycle()
    kept: list[Node] = []
    frozen_after(lambda: kept.extend(Node() for _ in range(5_000)) or [])
    assert dead() is None  # collected, not frozen with what the check kept
    assert gc.get_freeze_count() >= len(kept)
    assert gc.isenabled()


def test_a_check_that_keeps_little_is_left_to_the_collector(default_collector: None) -> None:
    dead = garbage_cycle()
    frozen_after(lambda: [])
    assert gc.get_freeze_count() == 0
    assert dead() is not None  # left for a later collection
    gc.collect()
    assert dead() is None


def test_a_paused_collector_stays_paused(default_collector: None) -> None:
    gc.disable()
    kept: list[Node] = []
    frozen_after(lambda: kept.extend(Node() for _ in range(5_000)) or [])
    assert not gc.isenabled()
    assert gc.get_freeze_count() == 0
