import gc

from config.gc_tuning import YOUNG_THRESHOLD, freeze_long_lived


def test_freeze_long_lived_freezes_the_heap_and_raises_the_young_threshold():
    threshold_before = gc.get_threshold()
    try:
        kept = [{"a": [1, 2]} for _ in range(100)]  # containers alive at the freeze
        frozen = freeze_long_lived()

        assert frozen == gc.get_freeze_count() > len(kept)
        assert gc.get_threshold() == (YOUNG_THRESHOLD, *threshold_before[1:])
        # A cycle made after the freeze is still collected: the collector is not off.
        cycle = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold_before)
