"""config.ttl_cache: entries expire after their TTL, the cache never outgrows its bound."""

import time

from config.ttl_cache import TtlCache


def test_entries_live_their_ttl_and_can_be_forgotten():
    cache = TtlCache(ttl_s=0.2, size_max=10)
    cache.put("a", 1)
    assert cache.get("a") == 1 and cache.get("b") is None
    time.sleep(0.25)
    assert cache.get("a") is None
    cache.put("a", 2)
    cache.forget("a")
    assert cache.get("a") is None


def test_a_callable_ttl_is_read_at_each_lookup_and_the_bound_holds():
    ttl = [60.0]
    cache = TtlCache(ttl_s=lambda: ttl[0], size_max=3)
    cache.put("a", 1)
    ttl[0] = 0.0
    assert cache.get("a") is None  # the new TTL applies to what is already stored
    ttl[0] = 60.0
    for name in "abcd":
        cache.put(name, name)
    assert [cache.get(name) for name in "abcd"] == [None, None, None, "d"]


def test_clear_all_empties_every_cache_in_the_process():
    first, second = TtlCache(ttl_s=60, size_max=3), TtlCache(ttl_s=60, size_max=3)
    first.put("a", 1)
    second.put("b", 2)
    TtlCache.clear_all()
    assert (first.get("a"), second.get("b")) == (None, None)
