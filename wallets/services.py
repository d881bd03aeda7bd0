"""Every write of the wallets app: keyword-only arguments, an actor, one transaction each.

Authorizations (what a gateway asks before serving a request)
-------------------------------------------------------------
Accounts, in the seller's book and the customer's currency:
- the hold DEBITS the account usage debits (the customer account rule, wallets.accounts):
  `wallet:<customer>` (prepaid; liability) or `unbilled:<customer>` (credit; asset);
- and CREDITS `holds:authorizations`, a clearing liability: while pending it only
  reserves; an explicit capture moves the captured amount there, out of the wallet.

Locking (the order is ledger.locks'). A decision takes the chain lock and the customer
accounts' balance rows (`ledger.locks.balances_lock`) before it reads the available
balance and the key's spend, and holds them until commit, so concurrent authorizations
(and usage batches) cannot interleave between the check and the hold: they cannot
overdraw. A capture, void or settlement locks its Authorization rows first
(wallets.locks), then the holds, then the chain.

Capture by usage. A usage event carrying `authorization_id` is booked by the metering
batch at its rated price (wallet Dr P / revenue Cr P, with cost and the reseller's legs).
In the same transaction `authorizations_settle_by_usage` voids the authorization's hold,
so the price is debited once, by the usage batch, and the reservation is released. If the
gateway had already captured explicitly, that capture is returned from the clearing
account to the customer account in the same transaction, so the usage's rated price is
what the customer pays and the clearing account is left at zero for that authorization.
"""

import hashlib
import json
import logging
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from config.fast_insert import bulk_insert
from config.public_ids import public_id_parse
from ledger import errors as ledger_errors_module
from ledger import selectors as ledger_selectors
from ledger import services as ledger_services
from ledger.amounts import amount_text
from ledger.locks import balances_lock
from ledger.models import Account, Book, HoldResolution
from ledger.selectors import AccountBalance
from ledger.services import ledger_errors
from wallets import funding, selectors
from wallets.accounts import HOLDS_ACCOUNT_CODE
from wallets.errors import (
    AuthorizationNotFound,
    AuthorizationNotOpen,
    CaptureExceedsAuthorization,
    IdempotencyConflict,
    InvalidApiKeyInput,
    InvalidAuthorizationRequest,
)
from wallets.locks import authorization_lock, authorizations_lock
from wallets.models import ApiKey, Authorization, BookMembership, Customer, CustomerMembership
from wallets.postings import capture_returned_event

logger = logging.getLogger(__name__)

# How long a hold lives unless captured or voided (setting WALLETS_AUTHORIZATION_TTL_S).
AUTHORIZATION_TTL_S_DEFAULT = 900
TOKENS_MAX = 10**9  # per request: far above any model's context window
ALLOWED_MODELS_MAX = 1000
HOLD_MINOR_MIN = 1  # a hold must be positive: a free model still reserves one unit

UNKNOWN_KEY = "unknown_key"
KEY_REVOKED = "key_revoked"
CUSTOMER_SUSPENDED = "customer_suspended"
MODEL_NOT_ALLOWED = "model_not_allowed"
KEY_LIMIT_EXCEEDED = "key_limit_exceeded"
INSUFFICIENT_FUNDS = "insufficient_funds"
# Given by a funds policy (wallets.funding.Funds): the credit app's.
CREDIT_LIMIT_EXCEEDED = "credit_limit_exceeded"
CUSTOMER_RESTRICTED = "customer_restricted"
DECLINE_REASONS = (
    UNKNOWN_KEY,
    KEY_REVOKED,
    CUSTOMER_SUSPENDED,
    MODEL_NOT_ALLOWED,
    KEY_LIMIT_EXCEEDED,
    INSUFFICIENT_FUNDS,
    CREDIT_LIMIT_EXCEEDED,
    CUSTOMER_RESTRICTED,
)


# --- customers -------------------------------------------------------------------------


def customer_suspend(*, customer: Customer, suspended: bool = True, actor: str) -> Customer:
    """Suspend (or reinstate) a customer: its authorizations are declined meanwhile."""
    Customer.objects.filter(pk=customer.pk).update(suspended=suspended)
    customer.suspended = suspended
    logger.info("customer %s suspended=%s by %s", customer.external_id, suspended, actor)
    return customer


# --- API keys --------------------------------------------------------------------------


def _check_limit(name: str, value) -> None:
    if value is not None and (type(value) is not int or not 0 <= value <= 2**63 - 1):
        raise InvalidApiKeyInput(f"{name} must be null or a non-negative integer (minor units)")


def _check_allowed_models(allowed_models) -> list[str]:
    if allowed_models is None:
        return []
    if not isinstance(allowed_models, list) or len(allowed_models) > ALLOWED_MODELS_MAX:
        raise InvalidApiKeyInput(f"allowed_models must be a list of at most {ALLOWED_MODELS_MAX}")
    for item in allowed_models:
        if not isinstance(item, str) or not 0 < len(item) <= 200:
            raise InvalidApiKeyInput("allowed_models holds model names of 1..200 characters")
    return sorted(set(allowed_models))


def api_key_create(
    *,
    customer: Customer,
    actor: str,
    name: str = "",
    daily_limit_minor: int | None = None,
    monthly_limit_minor: int | None = None,
    total_limit_minor: int | None = None,
    allowed_models: list[str] | None = None,
) -> tuple[ApiKey, str]:
    """Create a key; the full secret is returned this once and never stored."""
    for field_name, value in (
        ("daily_limit_minor", daily_limit_minor),
        ("monthly_limit_minor", monthly_limit_minor),
        ("total_limit_minor", total_limit_minor),
    ):
        _check_limit(field_name, value)
    models = _check_allowed_models(allowed_models)
    prefix, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    with transaction.atomic():
        key = ApiKey.objects.create(
            customer=customer,
            name=name,
            prefix=prefix,
            secret_hash=selectors.hash_secret(secret),
            daily_limit_minor=daily_limit_minor,
            monthly_limit_minor=monthly_limit_minor,
            total_limit_minor=total_limit_minor,
            allowed_models=models,
            created_by=actor,
        )
    return key, f"{selectors.API_KEY_PREFIX}{prefix}_{secret}"


_UNSET = object()


def api_key_update(
    *,
    api_key: ApiKey,
    actor: str,
    name=_UNSET,
    daily_limit_minor=_UNSET,
    monthly_limit_minor=_UNSET,
    total_limit_minor=_UNSET,
    allowed_models=_UNSET,
) -> ApiKey:
    """Change a key's limits or allow-list; arguments left out keep their value."""
    changes: dict = {}
    for field_name, value in (
        ("daily_limit_minor", daily_limit_minor),
        ("monthly_limit_minor", monthly_limit_minor),
        ("total_limit_minor", total_limit_minor),
    ):
        if value is not _UNSET:
            _check_limit(field_name, value)
            changes[field_name] = value
    if allowed_models is not _UNSET:
        changes["allowed_models"] = _check_allowed_models(allowed_models)
    if name is not _UNSET:
        changes["name"] = str(name)[:200]
    with transaction.atomic():
        ApiKey.objects.filter(pk=api_key.pk).update(**changes)
    for field_name, value in changes.items():
        setattr(api_key, field_name, value)
    logger.info("api key %s updated by %s: %s", api_key.prefix, actor, sorted(changes))
    return api_key


def api_key_revoke(*, api_key: ApiKey, actor: str) -> ApiKey:
    """Revoke a key (idempotent); its open authorizations stay open until resolved."""
    now = timezone.now()
    with transaction.atomic():
        ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(
            revoked_at=now, revoked_by=actor
        )
    api_key.refresh_from_db(fields=["revoked_at", "revoked_by"])
    return api_key


# --- accounts --------------------------------------------------------------------------


def customer_book_account(*, customer: Customer, code: str, type: str) -> Account:
    """An account of the customer's book in the customer's currency (made on first use)."""
    return ledger_services.account_ensure(
        book_id=customer.book_id, asset_id=customer.currency_id, code=code, type=type
    )


def authorization_accounts(*, customer: Customer) -> tuple[Account, Account]:
    """(the customer account the hold debits, the clearing account it credits)."""
    code, account_type = selectors.customer_account_code(customer)
    debit = customer_book_account(customer=customer, code=code, type=account_type)
    credit = customer_book_account(
        customer=customer, code=HOLDS_ACCOUNT_CODE, type=Account.Type.LIABILITY
    )
    return debit, credit


# --- authorizations --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuthorizationResult:
    authorization: Authorization
    replayed: bool  # an earlier answer to the same Idempotency-Key


def _request_hash(secret: str, provider: str, model: str, max_in: int, max_out: int) -> str:
    canonical = json.dumps(
        [selectors.hash_secret(secret), provider, model, max_in, max_out], separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _model_allowed(api_key: ApiKey, provider: str, model: str) -> bool:
    allowed = api_key.allowed_models
    return not allowed or model in allowed or f"{provider}/{model}" in allowed


def _check_request(provider: str, model: str, max_in: int, max_out: int) -> None:
    for name, value in (("max_input_tokens", max_in), ("max_output_tokens", max_out)):
        if type(value) is not int or not 0 <= value <= TOKENS_MAX:
            raise InvalidAuthorizationRequest(f"{name} must be an integer in 0..{TOKENS_MAX}")
    if max_in + max_out == 0:
        raise InvalidAuthorizationRequest("a request needs at least one input or output token")
    for name, value in (("provider", provider), ("model", model)):
        if not isinstance(value, str) or not 0 < len(value) <= 200:
            raise InvalidAuthorizationRequest(f"{name} must be a string of 1..200 characters")


@dataclass(slots=True)
class PendingAuthorization:
    """A request whose key is known and whose maximum cost is estimated: the rest is
    decided on fresh rows, under the locks (`authorizations_decide`)."""

    base: dict
    api_key: ApiKey
    customer: Customer
    estimate_minor: int
    expires_at: datetime
    public_id: uuid.UUID
    # Set by authorizations_decide from the fresh customer (its billing picks the account).
    debit: Account | None = None
    credit: Account | None = None


def authorization_create(
    *,
    secret: str,
    provider: str,
    model: str,
    max_input_tokens: int,
    max_output_tokens: int,
    actor: str,
    gateway_key_id: int | None = None,
    idempotency_key: str | None = None,
    now: datetime | None = None,
    decide: Callable[[PendingAuthorization], Authorization] | None = None,
) -> AuthorizationResult:
    """Decide whether the key may spend the request's maximum cost, and hold it if so.

    The same (gateway, Idempotency-Key) with the same request returns the first answer;
    with another request it is refused (idempotency_conflict). `decide` runs the locked
    part (default: `authorizations_decide` of this one request); the HTTP API passes a
    batcher that decides concurrent requests together (wallets.batching).
    """
    _check_request(provider, model, max_input_tokens, max_output_tokens)
    if idempotency_key is not None and not 0 < len(idempotency_key) <= 200:
        raise InvalidAuthorizationRequest("Idempotency-Key must be 1..200 characters")
    request_hash = _request_hash(secret, provider, model, max_input_tokens, max_output_tokens)
    if idempotency_key is not None:
        earlier = _earlier_answer(gateway_key_id, idempotency_key, request_hash)
        if earlier is not None:
            return AuthorizationResult(earlier, replayed=True)
    now = now or timezone.now()
    base = {
        "gateway_key_id": gateway_key_id,
        "idempotency_key": idempotency_key or "",
        "request_hash": request_hash,
        "provider": provider,
        "model": model,
        "max_input_tokens": max_input_tokens,
        "max_output_tokens": max_output_tokens,
        "created_at": now,
        "actor": actor,
    }
    try:
        prepared = _prepare(base, secret, now)
        if isinstance(prepared, Authorization):
            return AuthorizationResult(prepared, replayed=False)
        if decide is None:
            [decided] = authorizations_decide(pending=[prepared])
        else:
            decided = decide(prepared)
        return AuthorizationResult(decided, replayed=False)
    except IntegrityError:
        # A concurrent request with the same Idempotency-Key won: answer as it did.
        if idempotency_key is None:
            raise
        earlier = _earlier_answer(gateway_key_id, idempotency_key, request_hash)
        if earlier is None:
            raise
        return AuthorizationResult(earlier, replayed=True)


def _earlier_answer(
    gateway_key_id: int | None, idempotency_key: str, request_hash: str
) -> Authorization | None:
    earlier = (
        Authorization.objects.select_related("currency")
        .filter(gateway_key_id=gateway_key_id, idempotency_key=idempotency_key)
        .first()
    )
    if earlier is not None and earlier.request_hash != request_hash:
        raise IdempotencyConflict(
            f"Idempotency-Key {idempotency_key!r} was used for a different request",
            details={"authorization_id": str(earlier.public_id)},
        )
    return earlier


def _declined_row(base: dict, reason: str, **fields) -> Authorization:
    assert reason in DECLINE_REASONS, reason
    return Authorization(
        **base,
        **fields,
        decision=Authorization.Decision.DECLINED,
        state=Authorization.State.DECLINED,
        reason=reason,
    )


def _prepare(base: dict, secret: str, now: datetime) -> Authorization | PendingAuthorization:
    """What needs neither a lock nor a query on the hot path: the key from the secret
    (selectors.known_keys) and the estimate. An unknown key is declined and stored here;
    every check of state that can change (revocation, suspension, allow-list, limits,
    funds) is made by `authorizations_decide` on fresh rows."""
    api_key = selectors.known_keys.get(secret)
    if api_key is None:
        return _stored(_declined_row(base, UNKNOWN_KEY))
    customer = api_key.customer
    estimate = max(
        HOLD_MINOR_MIN,
        selectors.authorization_estimate_minor(
            customer=customer,
            provider=base["provider"],
            model=base["model"],
            max_input_tokens=base["max_input_tokens"],
            max_output_tokens=base["max_output_tokens"],
            at=now,
        ),
    )
    ttl_s = getattr(settings, "WALLETS_AUTHORIZATION_TTL_S", AUTHORIZATION_TTL_S_DEFAULT)
    return PendingAuthorization(
        base=base,
        api_key=api_key,
        customer=customer,
        estimate_minor=estimate,
        expires_at=now + timedelta(seconds=ttl_s),
        public_id=uuid.uuid4(),
    )


def _stored(authorization: Authorization) -> Authorization:
    authorization.save(force_insert=True)
    return authorization


def _funds_available(
    pending: Sequence[PendingAuthorization],
    declined: dict[int, str],
    balances: dict[int, AccountBalance],
) -> dict[int, funding.Funds]:
    """{customer account: what it may still hold} for the requests still to decide, from
    the locked balances: one call of the funds policy per billing mode (wallets.funding)."""
    customers: dict[int, Customer] = {}
    for index, item in enumerate(pending):
        if index not in declined:
            customers.setdefault(item.debit.id, item.customer)
    accounts = list(customers)
    queries = [funding.FundsQuery(customers[account], balances[account]) for account in accounts]
    answers = [
        answer if isinstance(answer, funding.Funds) else funding.Funds(answer)
        for answer in funding.available_minor(queries)
    ]
    return dict(zip(accounts, answers, strict=True))


def _limits(api_key: ApiKey) -> tuple[int | None, int | None, int | None]:
    return api_key.daily_limit_minor, api_key.monthly_limit_minor, api_key.total_limit_minor


def _spent_minor(api_key: ApiKey, now: datetime) -> list[int]:
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    spend = selectors.api_key_spend_get(
        api_key_id=api_key.id, day_start=day_start, month_start=day_start.replace(day=1)
    )
    return [spend.today_minor, spend.month_minor, spend.total_minor]


def _refresh(pending: Sequence[PendingAuthorization]) -> None:
    """Replace each request's key and customer by the rows as they are now (one query):
    revocation, suspension, the allow-list, limits and billing may have changed since
    the key was cached."""
    fresh = ApiKey.objects.select_related("customer__currency", "customer__book").in_bulk(
        {item.api_key.id for item in pending}
    )
    for item in pending:
        item.api_key = fresh[item.api_key.id]
        item.customer = item.api_key.customer


def _declined_before_funds(item: PendingAuthorization) -> str | None:
    if item.api_key.revoked_at is not None:
        return KEY_REVOKED
    if item.customer.suspended:
        return CUSTOMER_SUSPENDED
    if not _model_allowed(item.api_key, item.base["provider"], item.base["model"]):
        return MODEL_NOT_ALLOWED
    return None


def authorizations_decide(*, pending: Sequence[PendingAuthorization]) -> list[Authorization]:
    """Decide requests on fresh rows and under the locks, in order, in ONE transaction:
    each sees the funds and key spend the earlier ones left. Approved ones get their hold
    (one ledger event each, appended together); every answer is stored. Returns them in
    order."""
    assert pending, "nothing to decide"
    with ledger_errors(), transaction.atomic():
        _refresh(pending)
        declined: dict[int, str] = {}
        for index, item in enumerate(pending):
            reason = _declined_before_funds(item)
            if reason is not None:
                declined[index] = reason
            else:
                item.debit, item.credit = authorization_accounts(customer=item.customer)
        balances = balances_lock([item.debit.id for item in pending if item.debit is not None])
        available = _funds_available(pending, declined, balances)
        spent: dict[int, list[int]] = {}
        rows: list[Authorization] = []
        approved: list[tuple[PendingAuthorization, Authorization]] = []
        for index, item in enumerate(pending):
            who = {
                "api_key": item.api_key,
                "customer": item.customer,
                "currency": item.customer.currency,
            }
            if index in declined:
                rows.append(_declined_row(item.base, declined[index], **who))
                continue
            who["amount_minor"] = item.estimate_minor
            account = item.debit.id
            limits = _limits(item.api_key)
            used = None
            if any(limit is not None for limit in limits):
                used = spent.get(item.api_key.id)
                if used is None:
                    used = spent[item.api_key.id] = _spent_minor(
                        item.api_key, item.base["created_at"]
                    )
            if used is not None and any(
                limit is not None and already + item.estimate_minor > limit
                for limit, already in zip(limits, used, strict=True)
            ):
                rows.append(_declined_row(item.base, KEY_LIMIT_EXCEEDED, **who))
                continue
            funds = available[account]
            if funds.refused_reason:
                rows.append(_declined_row(item.base, funds.refused_reason, **who))
                continue
            if (
                funds.request_max_minor is not None
                and item.estimate_minor > funds.request_max_minor
            ):
                rows.append(_declined_row(item.base, funds.request_max_reason, **who))
                continue
            if funds.available_minor < item.estimate_minor:
                rows.append(_declined_row(item.base, funds.short_reason, **who))
                continue
            available[account] = funds = replace(
                funds, available_minor=funds.available_minor - item.estimate_minor
            )
            assert funds.available_minor >= 0, "an approval overdrew"
            if used is not None:
                for position in range(len(used)):
                    used[position] += item.estimate_minor
            row = Authorization(
                **item.base,
                **who,
                public_id=item.public_id,
                decision=Authorization.Decision.APPROVED,
                state=Authorization.State.OPEN,
                expires_at=item.expires_at,
            )
            rows.append(row)
            approved.append((item, row))
        if approved:
            _create_holds(approved)
        bulk_insert(rows)
    return rows


def _create_holds(approved: list[tuple[PendingAuthorization, Authorization]]) -> None:
    """The ledger's holds for the approved requests: one ledger call per actor."""
    by_actor: dict[str, list[tuple[PendingAuthorization, Authorization]]] = {}
    for pair in approved:
        by_actor.setdefault(pair[0].base["actor"], []).append(pair)
    for actor, pairs in by_actor.items():
        holds = ledger_services.holds_create(
            requests=[
                ledger_services.HoldRequest(
                    item.debit,
                    item.credit,
                    item.estimate_minor,
                    f"wallets:authorization:{item.public_id}",
                    item.expires_at,
                )
                for item, _row in pairs
            ],
            actor=actor,
        )
        for (_item, row), hold in zip(pairs, holds, strict=True):
            row.hold = hold


def _locked_authorization(public_id) -> Authorization:
    wanted = public_id_parse(public_id)
    found = None if wanted is None else authorization_lock(wanted)
    if found is None:
        raise AuthorizationNotFound(f"authorization {public_id} does not exist")
    return found


def _not_open(authorization: Authorization) -> AuthorizationNotOpen:
    return AuthorizationNotOpen(
        f"authorization {authorization.public_id} is {authorization.state}",
        details={"state": authorization.state},
    )


def _resolve_hold(call, authorization: Authorization) -> None:
    """Run a ledger hold resolution; a hold the expiry job got first means `expired`."""
    try:
        call()
    except (ledger_errors_module.HoldExpired, ledger_errors_module.HoldAlreadyResolved):
        raise AuthorizationNotOpen(
            f"authorization {authorization.public_id} has expired",
            details={"state": Authorization.State.EXPIRED},
        ) from None


def authorization_capture(*, public_id, amount_minor: int, actor: str) -> Authorization:
    """Capture the actual amount (at most the amount held); the rest is released.

    A retry of the same capture returns the captured authorization.
    """
    if type(amount_minor) is not int or amount_minor < 0:
        raise InvalidAuthorizationRequest("the capture amount must be a non-negative amount")
    with transaction.atomic():
        authorization = _locked_authorization(public_id)
        state = authorization.state
        if state == Authorization.State.CAPTURED and authorization.captured_minor == amount_minor:
            return authorization
        if state != Authorization.State.OPEN:
            raise _not_open(authorization)
        if amount_minor > authorization.amount_minor:
            asset = {"code": authorization.currency.code, "scale": authorization.currency.scale}
            raise CaptureExceedsAuthorization(
                f"cannot capture {amount_text(amount_minor, **asset)}: "
                f"{amount_text(authorization.amount_minor, **asset)} is authorized",
                details={"authorized_minor": authorization.amount_minor},
            )
        _resolve_hold(
            lambda: ledger_services.hold_post(
                hold_id=authorization.hold_id,
                amount=amount_minor,
                idempotency_key=f"wallets:authorization:{authorization.public_id}:capture",
                actor=actor,
            ),
            authorization,
        )
        authorization.state = Authorization.State.CAPTURED
        authorization.captured_minor = amount_minor
        authorization.resolved_at = timezone.now()
        authorization.save(update_fields=["state", "captured_minor", "resolved_at"])
    return authorization


def authorization_void(*, public_id, actor: str) -> Authorization:
    """Release the whole hold (idempotent: voiding a voided authorization is a no-op)."""
    with transaction.atomic():
        authorization = _locked_authorization(public_id)
        if authorization.state == Authorization.State.VOIDED:
            return authorization
        if authorization.state != Authorization.State.OPEN:
            raise _not_open(authorization)
        _resolve_hold(
            lambda: ledger_services.hold_void(
                hold_id=authorization.hold_id,
                idempotency_key=f"wallets:authorization:{authorization.public_id}:void",
                actor=actor,
            ),
            authorization,
        )
        authorization.state = Authorization.State.VOIDED
        authorization.captured_minor = 0
        authorization.resolved_at = timezone.now()
        authorization.save(update_fields=["state", "captured_minor", "resolved_at"])
    return authorization


def authorizations_expire(
    *, actor: str = "system:authorization-expiry", now: datetime | None = None, limit: int = 1000
) -> int:
    """Release holds past their expiry (ledger.services.holds_expire), then mark the
    authorizations whose hold expired. Two transactions: the second only touches this
    app's rows, so it cannot form a lock cycle with captures (Authorization -> hold)."""
    now = now or timezone.now()
    ledger_services.holds_expire(actor=actor, now=now, limit=limit)
    with transaction.atomic():
        return Authorization.objects.filter(
            state=Authorization.State.OPEN,
            hold__resolution__kind=HoldResolution.Kind.EXPIRED,
        ).update(state=Authorization.State.EXPIRED, captured_minor=0, resolved_at=now)


# --- capture by usage (called by metering.pipeline inside its batch transaction) -------


@dataclass(frozen=True, slots=True)
class UsageCapture:
    authorization_id: str
    customer: str  # external id: an event cannot settle another customer's hold
    price_minor: int


def authorizations_settle_by_usage(*, usages: Sequence[UsageCapture], actor: str) -> int:
    """Resolve the holds that booked usage events name; returns how many were voided.

    Must run inside the usage batch's transaction and BEFORE the batch appends to the
    ledger (ledger.locks' order: authorizations, holds, then the chain). The batch itself
    debits the customer account with the rated price; here each open hold is voided and
    each explicit capture returned to the customer account, so nothing is debited twice.
    An id that names no authorization of that customer is ignored (the usage still books).
    """
    assert connection.in_atomic_block, "settle inside the usage batch's transaction"
    prices: dict[uuid.UUID, int] = {}
    customers: dict[uuid.UUID, str] = {}
    for usage in usages:
        try:
            wanted = uuid.UUID(usage.authorization_id)
        except ValueError:
            continue
        prices[wanted] = prices.get(wanted, 0) + usage.price_minor
        customers.setdefault(wanted, usage.customer)
    if not prices:
        return 0
    settled_states = (
        Authorization.State.OPEN,
        Authorization.State.CAPTURED,
        Authorization.State.CAPTURED_BY_USAGE,
    )
    authorizations = [
        found
        for found in authorizations_lock(list(prices), states=settled_states)
        if found.customer.external_id == customers[found.public_id]
    ]
    if not authorizations:
        return 0
    open_ones = [a for a in authorizations if a.state == Authorization.State.OPEN]
    captured = [
        a for a in authorizations if a.state == Authorization.State.CAPTURED and a.captured_minor
    ]
    # A hold is immutable: its accounts and book are read without its lock (the capture
    # already resolved it; only the voids need the hold locks the ledger takes).
    holds = ledger_selectors.holds_get(hold_ids=[a.hold_id for a in captured])
    voided = ledger_services.holds_void_pending(
        voids=[
            ledger_services.HoldVoid(a.hold_id, f"wallets:authorization:{a.public_id}:usage-void")
            for a in open_ones
        ],
        with_events=[
            capture_returned_event(
                hold=holds[a.hold_id], public_id=a.public_id, amount_minor=a.captured_minor
            )
            for a in captured
        ],
        actor=actor,
    )
    now = timezone.now()
    settled = []
    for authorization in authorizations:
        if authorization.state == Authorization.State.OPEN and authorization.hold_id not in voided:
            continue  # the expiry job released it first: the usage books on its own
        previous = (
            authorization.captured_minor or 0
            if authorization.state == Authorization.State.CAPTURED_BY_USAGE
            else 0
        )
        authorization.captured_minor = previous + prices[authorization.public_id]
        authorization.state = Authorization.State.CAPTURED_BY_USAGE
        authorization.resolved_at = now
        settled.append(authorization)
    Authorization.objects.bulk_update(settled, ["state", "captured_minor", "resolved_at"])
    return len(voided)


# --- tenants ---------------------------------------------------------------------------


def customer_member_add(*, customer: Customer, user, actor: str) -> CustomerMembership:
    """Let `user` act for `customer` (see its wallet, manage its keys). Idempotent."""
    membership, _created = CustomerMembership.objects.get_or_create(
        user=user, customer=customer, defaults={"created_by": actor}
    )
    return membership


def book_member_add(*, book: Book, user, actor: str) -> BookMembership:
    """Let `user` act for the seller book `book` (a reseller's staff). Idempotent."""
    membership, _created = BookMembership.objects.get_or_create(
        user=user, book=book, defaults={"created_by": actor}
    )
    return membership
