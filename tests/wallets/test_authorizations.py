"""Authorizations through the services: every decline reason, approval, capture, void,
expiry and idempotency, against the real catalogue prices of the `world` fixture."""

from datetime import timedelta

import pytest
from django.utils import timezone

from ledger.amounts import from_minor_units
from ledger.integrity import verify_ledger
from ledger.models import HoldResolution
from pricing.rating import ATTO_SCALE, TokenCounts, rate
from pricing.selectors import RetailResolver
from tests.wallets.factories import ApiKeyFactory, clearing, wallet, wallet_topup
from wallets import errors, services
from wallets.models import Authorization

pytestmark = pytest.mark.django_db

USD = 10**9  # minor units (nano-dollars) per dollar
MODEL, PROVIDER = "deepseek-chat", "deepseek"
MAX_IN, MAX_OUT = 10_000, 2_000


def expected_estimate(customer, model=f"{PROVIDER}/{MODEL}", max_in=MAX_IN, max_out=MAX_OUT):
    """The maximum cost computed independently: rate every token, round up."""
    quote = RetailResolver.load().quote(
        seller_book_id=customer.book_id,
        provider=PROVIDER,
        model=model,
        at=timezone.now(),
        customer=customer.external_id,
    )
    atto = rate(TokenCounts(input=max_in, output=max_out), quote.price).amount_atto
    unit = 10 ** (ATTO_SCALE - customer.currency.scale)
    return -(-atto // unit)


def authorize_result(
    raw, *, model=MODEL, provider=PROVIDER, max_in=MAX_IN, max_out=MAX_OUT, **kw
) -> services.AuthorizationResult:
    return services.authorization_create(
        secret=raw,
        provider=provider,
        model=model,
        max_input_tokens=max_in,
        max_output_tokens=max_out,
        actor="test",
        **kw,
    )


def authorize(raw, **kw):
    return authorize_result(raw, **kw).authorization


def test_an_approved_authorization_holds_the_maximum_cost_rounded_up(world):
    acme = world["acme"]
    wallet_topup(acme, 10 * USD)
    key = ApiKeyFactory(customer=acme)

    found = authorize(key.raw)

    estimate = expected_estimate(acme)
    assert estimate > 0
    assert (found.decision, found.reason, found.state) == ("approved", "", "open")
    assert found.amount_minor == estimate
    assert found.hold.amount == estimate
    assert found.expires_at > timezone.now()
    balance = wallet(acme)
    assert balance.balance == 10 * USD  # a hold reserves, it does not spend
    assert balance.available == 10 * USD - estimate
    assert clearing(acme).balance == 0


def test_the_estimate_rounds_up_never_down():
    from wallets.selectors import _ceil_to_scale

    nano = 10 ** (ATTO_SCALE - 9)
    assert [_ceil_to_scale(atto, 9) for atto in (0, 1, nano - 1, nano, nano + 1)] == [
        0,
        1,
        1,
        1,
        2,
    ]


def test_unknown_key(world):
    key = ApiKeyFactory(customer=world["acme"])
    for raw in ("sk_live_nope_nope", "garbage", key.raw + "x"):
        found = authorize(raw)
        assert (found.decision, found.reason) == ("declined", "unknown_key")
        assert found.hold is None and found.customer is None


def test_revoked_key(world):
    key = ApiKeyFactory(customer=world["acme"])
    wallet_topup(world["acme"], USD)
    services.api_key_revoke(api_key=key, actor="test")
    assert authorize(key.raw).reason == "key_revoked"


def test_suspended_customer(world):
    acme = world["acme"]
    wallet_topup(acme, USD)
    key = ApiKeyFactory(customer=acme)
    services.customer_suspend(customer=acme, actor="test")
    assert authorize(key.raw).reason == "customer_suspended"
    services.customer_suspend(customer=acme, suspended=False, actor="test")
    assert authorize(key.raw).decision == "approved"


def test_state_changes_apply_at_once_although_keys_are_cached(world):
    """The hot path finds keys in a per-process cache; what can change is read again
    when the request is decided, so none of it waits for the cache to expire."""
    acme = world["acme"]
    wallet_topup(acme, USD)
    key = ApiKeyFactory(customer=acme)
    assert authorize(key.raw).decision == "approved"  # the key is cached from here on
    services.api_key_update(api_key=key, allowed_models=["gpt-4o"], actor="test")
    assert authorize(key.raw).reason == "model_not_allowed"
    services.api_key_update(api_key=key, allowed_models=[], actor="test")
    services.customer_suspend(customer=acme, actor="test")
    assert authorize(key.raw).reason == "customer_suspended"
    services.customer_suspend(customer=acme, suspended=False, actor="test")
    services.api_key_revoke(api_key=key, actor="test")
    assert authorize(key.raw).reason == "key_revoked"
    assert authorize(key.raw[:-1] + ("x" if key.raw[-1] != "x" else "y")).reason == "unknown_key"


def test_model_not_allowed(world):
    acme = world["acme"]
    wallet_topup(acme, USD)
    key = ApiKeyFactory(customer=acme, allowed_models=["gpt-4o"])
    assert authorize(key.raw).reason == "model_not_allowed"
    also = ApiKeyFactory(customer=acme, allowed_models=[f"{PROVIDER}/{MODEL}"])
    assert authorize(also.raw).decision == "approved"


@pytest.mark.parametrize("limit", ["daily_limit_minor", "monthly_limit_minor", "total_limit_minor"])
def test_key_limits_count_open_holds_and_captures(world, limit):
    acme = world["acme"]
    wallet_topup(acme, 10 * USD)
    estimate = expected_estimate(acme)
    key = ApiKeyFactory(customer=acme, **{limit: 2 * estimate + estimate // 2})

    first = authorize(key.raw)
    second = authorize(key.raw)
    assert first.decision == second.decision == "approved"
    third = authorize(key.raw)
    assert (third.decision, third.reason) == ("declined", "key_limit_exceeded")

    # A void frees the limit; a capture counts what was captured.
    services.authorization_void(public_id=first.public_id, actor="test")
    services.authorization_capture(public_id=second.public_id, amount_minor=10, actor="test")
    assert authorize(key.raw).decision == "approved"


def test_daily_limit_forgets_yesterday(world):
    acme = world["acme"]
    wallet_topup(acme, 10 * USD)
    estimate = expected_estimate(acme)
    key = ApiKeyFactory(customer=acme, daily_limit_minor=estimate, monthly_limit_minor=None)
    yesterday = timezone.now() - timedelta(days=1)
    authorize(key.raw, now=yesterday)
    assert authorize(key.raw).decision == "approved"
    assert authorize(key.raw).reason == "key_limit_exceeded"


def test_insufficient_funds_on_a_prepaid_wallet(world):
    acme = world["acme"]
    estimate = expected_estimate(acme)
    wallet_topup(acme, estimate - 1)
    key = ApiKeyFactory(customer=acme)
    found = authorize(key.raw)
    assert (found.decision, found.reason) == ("declined", "insufficient_funds")
    assert found.amount_minor == estimate
    assert wallet(acme).available == estimate - 1  # nothing held


def test_open_holds_count_against_the_available_balance(world):
    acme = world["acme"]
    estimate = expected_estimate(acme)
    wallet_topup(acme, 2 * estimate)
    key = ApiKeyFactory(customer=acme)
    assert [authorize(key.raw).decision for _ in range(3)] == ["approved", "approved", "declined"]
    assert wallet(acme).available == 0


def test_an_unpriced_model_is_an_error_not_a_decision(world):
    key = ApiKeyFactory(customer=world["acme"])
    with pytest.raises(errors.ModelNotPriced):
        authorize(key.raw, model="no-such-model")


def test_capture_posts_the_actual_amount_and_releases_the_rest(world):
    acme = world["acme"]
    wallet_topup(acme, USD)
    key = ApiKeyFactory(customer=acme)
    found = authorize(key.raw)
    actual = found.amount_minor // 3

    captured = services.authorization_capture(
        public_id=found.public_id, amount_minor=actual, actor="test"
    )

    assert (captured.state, captured.captured_minor) == ("captured", actual)
    assert wallet(acme).balance == USD - actual
    assert wallet(acme).available == USD - actual
    assert clearing(acme).balance == actual
    assert found.hold.resolution.kind == HoldResolution.Kind.POSTED
    # A retry is the same answer; another amount or a void is refused.
    again = services.authorization_capture(
        public_id=found.public_id, amount_minor=actual, actor="test"
    )
    assert again.captured_minor == actual
    with pytest.raises(errors.AuthorizationNotOpen):
        services.authorization_capture(public_id=found.public_id, amount_minor=1, actor="test")
    with pytest.raises(errors.AuthorizationNotOpen):
        services.authorization_void(public_id=found.public_id, actor="test")
    assert verify_ledger().ok


def test_capture_cannot_exceed_the_authorization(world):
    acme = world["acme"]
    wallet_topup(acme, USD)
    found = authorize(ApiKeyFactory(customer=acme).raw)
    with pytest.raises(errors.CaptureExceedsAuthorization) as refused:
        services.authorization_capture(
            public_id=found.public_id, amount_minor=found.amount_minor + 1, actor="test"
        )
    held = from_minor_units(found.amount_minor, 9)
    over = from_minor_units(found.amount_minor + 1, 9)
    assert refused.value.message == f"cannot capture {over} USD: {held} USD is authorized"
    assert refused.value.details == {"authorized_minor": found.amount_minor}
    with pytest.raises(errors.AuthorizationNotFound):
        services.authorization_void(public_id="not-a-uuid", actor="test")


def test_void_releases_everything(world):
    acme = world["acme"]
    wallet_topup(acme, USD)
    found = authorize(ApiKeyFactory(customer=acme).raw)
    voided = services.authorization_void(public_id=found.public_id, actor="test")
    assert voided.state == "voided"
    assert services.authorization_void(public_id=found.public_id, actor="test").state == "voided"
    assert (wallet(acme).balance, wallet(acme).available) == (USD, USD)
    with pytest.raises(errors.AuthorizationNotOpen):
        services.authorization_capture(public_id=found.public_id, amount_minor=1, actor="test")


def test_expiry_releases_the_hold_and_marks_the_authorization(world):
    acme = world["acme"]
    wallet_topup(acme, USD)
    key = ApiKeyFactory(customer=acme)
    past = timezone.now() - timedelta(hours=2)
    stale = authorize(key.raw, now=past)
    fresh = authorize(key.raw)

    assert services.authorizations_expire() == 1

    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert (stale.state, fresh.state) == ("expired", "open")
    assert wallet(acme).available == USD - fresh.amount_minor
    with pytest.raises(errors.AuthorizationNotOpen):
        services.authorization_capture(public_id=stale.public_id, amount_minor=1, actor="test")
    assert services.authorizations_expire() == 0


def test_capturing_a_hold_past_its_expiry_is_refused_before_the_job_runs(world):
    acme = world["acme"]
    wallet_topup(acme, USD)
    key = ApiKeyFactory(customer=acme)
    stale = authorize(key.raw, now=timezone.now() - timedelta(hours=2))
    with pytest.raises(errors.AuthorizationNotOpen) as refused:
        services.authorization_capture(public_id=stale.public_id, amount_minor=1, actor="test")
    assert refused.value.details == {"state": "expired"}


def test_the_celery_task_expires_authorizations(world):
    from wallets.tasks import expire_authorizations

    acme = world["acme"]
    wallet_topup(acme, USD)
    key = ApiKeyFactory(customer=acme)
    authorize(key.raw, now=timezone.now() - timedelta(hours=2))
    assert expire_authorizations.apply().get() == 1
    assert Authorization.objects.get().state == "expired"


def test_beat_schedules_the_expiry_task(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["wallets-expire-authorizations"]
    assert entry["task"] == "wallets.expire_authorizations"


def test_idempotency_key_replays_the_first_answer(world):
    acme = world["acme"]
    wallet_topup(acme, USD)
    key = ApiKeyFactory(customer=acme)
    first = authorize_result(key.raw, idempotency_key="req-1")
    again = authorize_result(key.raw, idempotency_key="req-1")
    assert not first.replayed and again.replayed
    assert again.authorization.pk == first.authorization.pk
    assert Authorization.objects.count() == 1
    assert wallet(acme).available == USD - first.authorization.amount_minor
    with pytest.raises(errors.IdempotencyConflict):
        authorize_result(key.raw, max_in=MAX_IN + 1, idempotency_key="req-1")


def test_a_declined_answer_is_replayed_too(world):
    kwargs = {
        "secret": "sk_live_unknown_key",
        "provider": PROVIDER,
        "model": MODEL,
        "max_input_tokens": 1,
        "max_output_tokens": 1,
        "actor": "test",
        "idempotency_key": "req-2",
    }
    first = services.authorization_create(**kwargs)
    again = services.authorization_create(**kwargs)
    assert again.replayed and again.authorization.pk == first.authorization.pk
    assert again.authorization.reason == "unknown_key"


@pytest.mark.parametrize(
    ("max_in", "max_out"), [(0, 0), (-1, 5), (services.TOKENS_MAX + 1, 0), (1.5, 1)]
)
def test_bad_token_counts_are_refused(world, max_in, max_out):
    key = ApiKeyFactory(customer=world["acme"])
    with pytest.raises(errors.InvalidAuthorizationRequest):
        authorize(key.raw, max_in=max_in, max_out=max_out)


def test_api_key_secret_is_stored_hashed_and_limits_validated(world):
    key = ApiKeyFactory(customer=world["acme"])
    assert key.raw.startswith(f"sk_live_{key.prefix}_")
    secret = key.raw.rsplit("_", 1)[-1]
    key.refresh_from_db()
    assert secret not in key.secret_hash and len(key.secret_hash) == 64
    with pytest.raises(errors.InvalidApiKeyInput):
        services.api_key_create(customer=world["acme"], daily_limit_minor=-1, actor="test")
    with pytest.raises(errors.InvalidApiKeyInput):
        services.api_key_create(customer=world["acme"], allowed_models="gpt-4o", actor="test")
    updated = services.api_key_update(api_key=key, daily_limit_minor=5, actor="test")
    assert updated.daily_limit_minor == 5 and updated.monthly_limit_minor is None


def _pending(raw, **kw):
    now = timezone.now()
    base = {
        "gateway_key_id": None,
        "idempotency_key": "",
        "request_hash": "x",
        "provider": PROVIDER,
        "model": MODEL,
        "max_input_tokens": MAX_IN,
        "max_output_tokens": MAX_OUT,
        "created_at": now,
        "actor": "test",
        **kw,
    }
    return services._prepare(base, raw, now)


def test_a_batch_is_decided_in_order_against_funds_and_key_limits(world):
    acme, initech = world["acme"], world["initech"]
    estimate = expected_estimate(acme)
    wallet_topup(acme, 3 * estimate)
    wallet_topup(initech, 10 * USD)
    limited = ApiKeyFactory(customer=acme, daily_limit_minor=2 * estimate)
    free = ApiKeyFactory(customer=acme)
    other = ApiKeyFactory(customer=initech)
    batch = [
        _pending(limited.raw),
        _pending(limited.raw),
        _pending(limited.raw),  # over the key's daily limit
        _pending(free.raw),  # the last estimate the wallet covers
        _pending(free.raw),  # no funds left
        _pending(other.raw),  # another wallet, another book
    ]

    answers = services.authorizations_decide(pending=batch)

    assert [(a.decision, a.reason) for a in answers] == [
        ("approved", ""),
        ("approved", ""),
        ("declined", "key_limit_exceeded"),
        ("approved", ""),
        ("declined", "insufficient_funds"),
        ("approved", ""),
    ]
    assert all(a.pk for a in answers)
    assert wallet(acme).available == 0
    assert len({a.hold.event_id for a in answers if a.hold}) == 4
    assert verify_ledger().ok


def test_a_wallet_that_usage_took_negative_declines_without_failing(world):
    from metering.pipeline import Pipeline
    from tests.metering.conftest import raw, usage

    acme = world["acme"]
    key = ApiKeyFactory(customer=acme)
    Pipeline().process([raw(usage("acme"))])  # served without a hold: the wallet goes negative
    assert wallet(acme).balance < 0
    assert authorize(key.raw).reason == "insufficient_funds"
