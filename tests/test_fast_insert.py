"""config.fast_insert.bulk_insert: the ORM's bulk_create without its per-value work, for
models whose fields need none; anything else is refused, not guessed at."""

import uuid

import pytest
from django.utils import timezone

from config.fast_insert import bulk_insert
from ledger.models import Book
from payments.models import StripeEvent
from tests.metering.conftest import catalogue_subset, world  # noqa: F401  (fixtures)
from wallets import services
from wallets.models import Authorization

pytestmark = pytest.mark.django_db


def test_rows_are_inserted_in_order_and_get_their_ids(world):  # noqa: F811
    key, _secret = services.api_key_create(customer=world["acme"], actor="test")
    now = timezone.now()
    rows = [
        Authorization(
            api_key=key,
            customer=world["acme"],
            currency=world["usd"],
            request_hash=f"{index:064d}",
            provider="deepseek",
            model="deepseek-chat",
            max_input_tokens=index,
            max_output_tokens=1,
            decision=Authorization.Decision.DECLINED,
            reason="insufficient_funds",
            state=Authorization.State.DECLINED,
            created_at=now,
            actor="test",
        )
        for index in range(3)
    ]
    bulk_insert(rows)

    stored = {a.pk: a for a in Authorization.objects.all()}
    assert [stored[row.pk].max_input_tokens for row in rows] == [0, 1, 2]
    assert [stored[row.pk].public_id for row in rows] == [row.public_id for row in rows]
    assert all(isinstance(row.public_id, uuid.UUID) and not row._state.adding for row in rows)
    assert stored[rows[0].pk].decision == "declined" and stored[rows[0].pk].created_at == now
    bulk_insert([])  # nothing to do


def test_models_with_json_or_auto_now_fields_are_refused():
    with pytest.raises(AssertionError, match="use bulk_create"):
        bulk_insert([StripeEvent(event_id="evt_1", type="x", outcome="ignored", payload={})])
    with pytest.raises(AssertionError, match="use bulk_create"):
        bulk_insert([Book(code="b", name="B")])
