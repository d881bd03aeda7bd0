"""What credit's reports say, as rows of plain values (the API's JSON and finance's CSV
exports print the same rows). Amounts leave as the integer in the ledger asset's unit
(`_minor`) and a decimal string; reads only, through the selectors."""

from datetime import date

from credit import selectors
from credit.losses import selectors as losses
from credit.models import BUCKETS, AllowanceBooking, DunningAction, DunningStanding
from ledger.amounts import from_minor_units
from ledger.models import Asset, Book
from wallets.models import Customer


def _money(prefix: str, amount: int, scale: int) -> dict:
    return {prefix: from_minor_units(amount, scale), f"{prefix}_minor": amount}


def _names(model, ids) -> dict[int, object]:
    return model.objects.in_bulk(set(ids))


def exposure_rows(customers: list[Customer]) -> list[dict]:
    rows = []
    for customer, position in zip(
        customers, selectors.credit_positions_list(customers=customers), strict=True
    ):
        scale, exposure = customer.currency.scale, position.exposure
        rows.append(
            {
                "customer": customer.external_id,
                "book": customer.book.code,
                "billing": customer.billing,
                "currency": customer.currency.code,
                **_money("receivable", exposure.receivable_minor, scale),
                **_money("unbilled", exposure.unbilled_minor, scale),
                **_money("holds", exposure.holds_minor, scale),
                **_money("negative_prepaid", exposure.negative_prepaid_minor, scale),
                **_money("exposure", position.exposure_minor, scale),
                **_money("credit_limit", position.credit_limit_minor, scale),
                **_money("available", position.available_minor, scale),
                "standing": position.standing.level,
            }
        )
    return rows


def reseller_rows(book_ids=None) -> list[dict]:
    found = selectors.reseller_exposures_list(book_ids=book_ids)
    books = _names(Book, [r.book_id for r in found])
    assets = _names(Asset, [r.currency_id for r in found])
    return [
        {
            "book": books[r.book_id].code,
            "kind": books[r.book_id].kind,
            "currency": assets[r.currency_id].code,
            "customers": r.customers,
            **_money("exposure", r.exposure_minor, assets[r.currency_id].scale),
            **_money("credit_limits", r.credit_limit_minor, assets[r.currency_id].scale),
        }
        for r in found
    ]


def aging_rows(*, as_of: date, book_id: int | None) -> list[dict]:
    found = losses.aging_list(as_of=as_of, book_id=book_id)
    books = _names(Book, [r.book_id for r in found])
    assets = _names(Asset, [r.currency_id for r in found])
    rows = []
    for r in found:
        scale = assets[r.currency_id].scale
        buckets = {}
        for bucket in BUCKETS:
            buckets |= _money(bucket, r.buckets[bucket], scale)
        rows.append(
            {
                "book": books[r.book_id].code,
                "buyer": r.buyer_key,
                "currency": assets[r.currency_id].code,
                **buckets,
                **_money("total", r.total, scale),
                "oldest_days_past_due": r.oldest_days_past_due,
            }
        )
    return rows


def allowance_rows(*, as_of: date, book_id: int | None) -> list[dict]:
    """Per book, currency and bucket: open, rate and allowance (the matrix x the aging)."""
    found = losses.allowances_list(as_of=as_of, book_id=book_id)
    books = _names(Book, [a.book_id for a in found])
    assets = _names(Asset, [a.currency_id for a in found])
    rows = []
    for allowance in found:
        scale = assets[allowance.currency_id].scale
        for bucket in BUCKETS:
            line = allowance.buckets[bucket]
            rows.append(
                {
                    "book": books[allowance.book_id].code,
                    "currency": assets[allowance.currency_id].code,
                    "matrix": allowance.matrix_id,
                    "bucket": losses.BUCKET_LABELS[bucket],
                    **_money("open", line["open"], scale),
                    "rate_bps": line["rate_bps"],
                    **_money("allowance", line["allowance"], scale),
                }
            )
    return rows


def allowance_booking_rows(bookings) -> list[dict]:
    return [
        {
            "book": b.book.code,
            "currency": b.currency.code,
            "period_end": b.period_end.isoformat(),
            "matrix": b.matrix_id,
            **_money("receivable", b.receivable_minor, b.currency.scale),
            **_money("allowance", b.allowance_minor, b.currency.scale),
            **_money("previous", b.previous_minor, b.currency.scale),
            **_money("change", b.change_minor, b.currency.scale),
            "ledger_event_sequence": b.ledger_event_sequence,
            "booked_at": b.booked_at.isoformat(),
            "booked_by": b.booked_by,
        }
        for b in bookings
    ]


def allowance_bookings(book_id: int | None = None):
    found = AllowanceBooking.objects.select_related("book", "currency").order_by(
        "-period_end", "book_id", "currency_id"
    )
    return found.filter(book_id=book_id) if book_id is not None else found


def dunning_action_rows(actions) -> list[dict]:
    return [
        {
            "id": a.pk,
            "customer": a.customer.external_id,
            "episode": a.episode,
            "step": a.step.position if a.step_id else None,
            "action": a.action,
            "reason": a.reason,
            "outcome": a.outcome,
            "days_past_due": a.days_past_due,
            **_money("overdue", a.overdue_minor, a.customer.currency.scale),
            "at": a.at.isoformat(),
            "actor": a.actor,
        }
        for a in actions
    ]


def dunning_actions(customer: Customer | None = None):
    found = DunningAction.objects.select_related("customer__currency", "step").order_by("pk")
    return found.filter(customer=customer) if customer is not None else found


def dunning_body(customer: Customer) -> dict:
    """The standing in force now (a payment since the evaluation lifts it at once) and
    the evaluation's record."""
    position = selectors.credit_position_get(customer=customer)
    row = DunningStanding.objects.filter(customer=customer).first()
    scale = customer.currency.scale
    return {
        "customer": customer.external_id,
        "standing": position.standing.level,
        "lifted_by_payment": position.standing.lifted_by_payment,
        "evaluated_level": row.level if row else DunningStanding.Level.GOOD,
        "episode": row.episode if row else 0,
        "last_step": row.last_position if row else 0,
        "restrict_request_max_minor": position.standing.restrict_request_max_minor,
        **_money("overdue_at_evaluation", row.overdue_minor if row else 0, scale),
        "evaluated_at": row.evaluated_at.isoformat() if row else None,
        "history": dunning_action_rows(dunning_actions(customer)),
    }
