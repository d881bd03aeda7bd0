import gc

from config.gc_tuning import YOUNG_THRESHOLD, freeze_long_lived


def test_freeze_long_lived_freezes_the_heap_and_raises_the_young_threshold():
    threshold_before = gc.get_threshold()
    try:
        kept = [{"a": [1, 2]} for _ in range(100)]  # containers alive at the freeze
        frozen = freeze_long_lived()

        assert frozen > len(kept)
        # Every container alive then is frozen; one may die since (another thread of a
        # long test run dropping its last reference), none joins without a new freeze.
        assert frozen - 100 <= gc.get_freeze_count() <= frozen
        assert gc.get_threshold() == (YOUNG_THRESHOLD, *threshold_before[1:])
        # A cycle made after the freeze is still collected: the collector is not off.
        cycle = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold_before)
