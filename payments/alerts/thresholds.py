"""One trigger per crossing of a threshold: the rule auto top-up and low-balance alerts
share (their settings rows carry `enabled`, `threshold_minor` and `armed`)."""


def threshold_crossed(*, row, available_minor: int) -> bool:
    """True once when the available balance falls below the row's threshold: the row is
    disarmed then, and armed again only once the balance is back at or above it. The
    caller holds the row's lock; changes to `armed` are saved here."""
    if not row.enabled:
        return False
    if available_minor >= row.threshold_minor:
        if not row.armed:
            row.armed = True
            row.save(update_fields=["armed"])
        return False
    if not row.armed:
        return False
    row.armed = False
    row.save(update_fields=["armed"])
    return True
