"""Booking rules are pure: aggregated per batch they equal the sum of per-record legs,
and every book balances."""

from collections import defaultdict

from hypothesis import given
from hypothesis import strategies as st

from ledger.posting_rules import CREDIT, DEBIT
from metering.postings import RatedUsage, aggregate_legs, debit_checksum, usage_legs

DISTRIBUTOR, RESELLER = (1, "dist"), (2, "apex")

records = st.lists(
    st.builds(
        lambda customer, prepaid, provider, resold, price, cost, wholesale: RatedUsage(
            customer=customer,
            prepaid=prepaid,
            provider=provider,
            seller_book_id=(RESELLER if resold else DISTRIBUTOR)[0],
            seller_book_code=(RESELLER if resold else DISTRIBUTOR)[1],
            distributor_book_id=DISTRIBUTOR[0],
            distributor_book_code=DISTRIBUTOR[1],
            price_minor=price,
            cost_minor=cost,
            wholesale_minor=wholesale if resold else None,
        ),
        st.sampled_from(["acme", "globex", "initech"]),
        st.booleans(),
        st.sampled_from(["openai", "deepseek"]),
        st.booleans(),
        st.integers(0, 10**12),
        st.integers(0, 10**12),
        st.integers(0, 10**12),
    ),
    max_size=60,
)


@given(records)
def test_aggregation_equals_the_sum_of_each_records_legs(batch):
    naive: dict = defaultdict(lambda: defaultdict(int))
    for usage in batch:
        for debit, credit, amount in usage_legs(usage):
            naive[debit.book_id][(debit, DEBIT)] += amount
            naive[credit.book_id][(credit, CREDIT)] += amount
    aggregated = aggregate_legs(batch)
    assert {b: dict(s) for b, s in aggregated.items()} == {b: dict(s) for b, s in naive.items()}
    for book in aggregated.values():
        debits = sum(v for (_key, side), v in book.items() if side == DEBIT)
        credits = sum(v for (_key, side), v in book.items() if side == CREDIT)
        assert debits == credits
    total_debits = sum(
        v for book in aggregated.values() for (_k, side), v in book.items() if side == DEBIT
    )
    assert total_debits == sum(debit_checksum(usage) for usage in batch)
