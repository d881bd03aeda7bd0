"""A small real world for invoicing: real catalogue prices (sub-cent per token), the
distributor and a reseller with billing profiles and tax rates, customers on credit of
both, and usage booked through metering's real pipeline."""

from datetime import UTC, datetime

import pytest

from invoicing import services
from metering.pipeline import Pipeline
from tests.metering.conftest import PRICES_FROM, catalogue_subset, raw, usage, world_create

__all__ = ["catalogue_subset"]  # metering's session fixture, used by `world`
from wallets.models import Customer

JUNE = (datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC))
JULY = (datetime(2026, 7, 1, tzinfo=UTC), datetime(2026, 8, 1, tzinfo=UTC))
AFTER_JUNE = datetime(2026, 7, 2, tzinfo=UTC)  # "now" when June is invoiced
AFTER_JULY = datetime(2026, 8, 2, tzinfo=UTC)
# (model, provider) as gateways report them: cheap and dear side by side.
MIX = [
    ("gpt-4o", "openai"),
    ("claude-sonnet-4-5", "anthropic"),
    ("deepseek-chat", "deepseek"),
    ("gemini-2.5-pro", "gemini"),
]


@pytest.fixture
def world(db, catalogue_subset):
    """Metering's world (catalogue prices, the distributor, the reseller apex, their price
    books), with initech on credit and more buyers, billing profiles and tax rates."""
    metering_world = world_create(catalogue_subset)
    usd, distributor, reseller = (metering_world[k] for k in ("usd", "distributor", "reseller"))
    Customer.objects.filter(external_id="initech").update(billing=Customer.Billing.CREDIT)
    customers = {
        name: Customer.objects.get(external_id=name) for name in ("acme", "globex", "initech")
    }
    customers["umbrella"] = Customer.objects.create(
        external_id="umbrella", book=reseller, currency=usd
    )
    profiles = {
        "distributor": services.billing_profile_set(
            book=distributor,
            legal_name="TokenDistributor Ltd",
            currency=usd,
            invoice_prefix="TD-",
            actor="test",
        ),
        "apex": services.billing_profile_set(
            book=reseller,
            legal_name="Apex AI GmbH",
            currency=usd,
            invoice_prefix="APX-",
            credit_note_prefix="APX-CN-",
            payment_terms_days=14,
            actor="test",
        ),
    }
    services.tax_rate_add(
        profile=profiles["apex"], region="DE", rate_bps=1900, effective_from=PRICES_FROM, actor="t"
    )
    services.tax_rate_add(
        profile=profiles["distributor"],
        region="US",
        rate_bps=0,
        kind="exempt",
        effective_from=PRICES_FROM,
        actor="t",
    )
    services.tax_rate_add(
        profile=profiles["distributor"],
        region="DE",
        rate_bps=0,
        kind="reverse_charge",
        effective_from=PRICES_FROM,
        actor="t",
    )
    services.buyer_details_set(
        customer=customers["globex"], legal_name="Globex Corp", region="US", actor="t"
    )
    services.buyer_details_set(
        customer=customers["initech"], legal_name="Initech GmbH", region="DE", actor="t"
    )
    services.buyer_details_set(book=reseller, legal_name="Apex AI GmbH", region="DE", actor="t")
    return {
        "usd": usd,
        "distributor": distributor,
        "reseller": reseller,
        "profiles": profiles,
        **customers,
    }


def book_usage(
    customer: str, days=range(1, 31), month: int = 6, per_day: int = 3, year: int = 2026
) -> int:
    """A month of usage of one customer over the model mix, booked through metering's
    real pipeline in one batch; returns the ledger sequence of its batch."""
    events = []
    for day in days:
        for n in range(per_day):
            model, provider = MIX[(day + n) % len(MIX)]
            events.append(
                usage(
                    customer,
                    model,
                    provider,
                    input=1000 + 37 * day + n,
                    output=250 + 11 * n + day,
                    cache_read=(day * 13) % 200,
                    occurred_at=f"{year}-{month:02d}-{day:02d}T{10 + n}:00:00+00:00",
                )
            )
    result = Pipeline().process([raw(event) for event in events])
    assert result.rejected == 0, result
    return result.ledger_sequence


def late_usage(customer: str, occurred_at: str, *, input: int = 5000) -> int:
    result = Pipeline().process(
        [raw(usage(customer, "gpt-4o", "openai", input=input, output=100, occurred_at=occurred_at))]
    )
    assert result.processed == 1
    return result.ledger_sequence
