"""BoundedCache: least recently used out first, bounded by weight."""

from __future__ import annotations

from app.lru import BoundedCache


def test_bounded_by_weight_and_least_recently_used_out_first() -> None:
    cache: BoundedCache[str] = BoundedCache(10, weigh=len)
    for key in "abc":
        cache.put(key, "x" * 4)
    assert len(cache) == 2 and cache.get("a") is None and cache.get("c") is not None
    cache.put("big", "y" * 11)  # heavier than the whole cache: not kept
    assert cache.get("big") is None and len(cache) == 2


def test_a_read_keeps_an_entry_and_a_replacement_reweighs() -> None:
    cache: BoundedCache[str] = BoundedCache(3)  # one each
    for key in "abc":
        cache.put(key, key)
    assert cache.get("a") == "a"  # now the most recently used
    cache.put("d", "d")
    assert cache.get("b") is None and cache.values() == ["c", "a", "d"]
    cache.put("c", "C")
    assert len(cache) == 3 and cache.get("c") == "C"
