"""The consumer's customer directory: one query per batch for the customers it names."""

import pytest

from metering import customers as customers_module
from metering.customers import CustomerDirectory
from metering.rating import Unrateable
from wallets.models import Customer


def test_prefetch_loads_every_customer_of_a_batch_in_one_query(world, django_assert_num_queries):
    directory = CustomerDirectory()
    with django_assert_num_queries(1):
        directory.prefetch(["acme", "globex", "initech", "nobody"])
    with django_assert_num_queries(0):
        acme, globex, initech = (directory.get(c) for c in ("acme", "globex", "initech"))
        directory.prefetch(["acme", "globex"])  # all cached: no query

    assert (acme.prepaid, globex.prepaid) == (True, False)
    assert (initech.seller_book_id, initech.distributor_book_id) == (
        world["reseller"].id,
        world["distributor"].id,
    )
    assert acme.asset_code == "USD" and acme.asset_scale == 9


def test_an_unknown_customer_is_not_cached_so_it_counts_once_created(world):
    directory = CustomerDirectory()
    directory.prefetch(["late"])
    with pytest.raises(Unrateable) as refused:
        directory.get("late")
    assert refused.value.code == "unknown_customer"

    Customer.objects.create(external_id="late", book=world["distributor"], currency=world["usd"])
    directory.prefetch(["late"])
    assert directory.get("late").external_id == "late"


def test_prefetch_reloads_customers_whose_entry_is_stale(
    world, monkeypatch, django_assert_num_queries
):
    directory = CustomerDirectory()
    directory.prefetch(["globex"])
    assert directory.get("globex").prepaid is False
    Customer.objects.filter(external_id="globex").update(billing=Customer.Billing.PREPAID)

    monkeypatch.setattr(customers_module, "CACHE_TTL_S", 0.0)
    with django_assert_num_queries(1):
        directory.prefetch(["globex"])
    monkeypatch.setattr(customers_module, "CACHE_TTL_S", 60.0)
    assert directory.get("globex").prepaid is True
