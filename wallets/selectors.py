"""Reads for wallets: API keys, authorizations, the maximum-cost estimate, key spend.

Prices come from pricing's in-memory RetailResolver, loaded once per process and
reloaded when a catalogue or price book is published (checked at most every
PRICE_RELOAD_CHECK_S), so an authorization costs no pricing query.
"""

import hashlib
import hmac
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import F, QuerySet

from config.errors import DomainError
from config.public_ids import public_id_parse
from config.ttl_cache import TtlCache
from ledger.amounts import from_minor_units
from ledger.selectors import AccountBalance, account_balance_find
from pricing.rating import ATTO_SCALE, effective_prices
from pricing.selectors import RetailResolver
from wallets.accounts import CustomerAccount, customer_account
from wallets.errors import ModelNotPriced
from wallets.models import ApiKey, Authorization, Customer, Lot, LotCursor

API_KEY_PREFIX = "sk_live_"
KNOWN_KEY_TTL_S = 30.0
KNOWN_KEYS_MAX = 100_000
PRICE_RELOAD_CHECK_S = 30.0
AUTHORIZATION_LIST_MAX = 1000


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_api_key(raw: str) -> tuple[str, str] | None:
    """`sk_live_<prefix>_<secret>` -> (prefix, secret); None when it cannot be a key."""
    if not isinstance(raw, str) or not raw.startswith(API_KEY_PREFIX):
        return None
    prefix, sep, secret = raw[len(API_KEY_PREFIX) :].partition("_")
    if not sep or not prefix or not secret:
        return None
    return prefix, secret


def api_key_get_by_secret(*, raw: str) -> ApiKey | None:
    """The key whose secret this is (revoked or not), with its customer; else None."""
    parts = split_api_key(raw)
    if parts is None:
        return None
    prefix, secret = parts
    key = (
        ApiKey.objects.select_related("customer__currency", "customer__book")
        .filter(prefix=prefix)
        .first()
    )
    if key is None or not hmac.compare_digest(key.secret_hash, hash_secret(secret)):
        return None
    return key


class _KnownKeys:
    """Finds a key by its secret without a query on the authorization hot path: keys by
    prefix, per process, for KNOWN_KEY_TTL_S. Callers trust from it only what never
    changes (the key's id and secret hash, its customer's id, book and currency) and what
    may be a few seconds stale for an estimate (the customer's plan); revocation,
    suspension, limits, the allow-list and billing are read again when a request is
    decided."""

    def __init__(self) -> None:
        self._by_prefix = TtlCache(ttl_s=KNOWN_KEY_TTL_S, size_max=KNOWN_KEYS_MAX)

    def get(self, raw: str) -> ApiKey | None:
        parts = split_api_key(raw)
        if parts is None:
            return None
        prefix, secret = parts
        key = self._by_prefix.get(prefix)
        if key is None:
            key = api_key_get_by_secret(raw=raw)
            if key is not None:
                self._by_prefix.put(prefix, key)
            return key
        return key if hmac.compare_digest(key.secret_hash, hash_secret(secret)) else None

    def reset(self) -> None:
        self._by_prefix.clear()


known_keys = _KnownKeys()


def api_key_list(*, customer: Customer | None = None) -> QuerySet[ApiKey]:
    keys = ApiKey.objects.select_related("customer").order_by("pk")
    return keys.filter(customer=customer) if customer is not None else keys


def authorization_get(*, public_id: str | uuid.UUID) -> Authorization | None:
    wanted = public_id_parse(public_id)
    if wanted is None:
        return None
    return (
        Authorization.objects.select_related("currency", "customer", "gateway_key")
        .filter(public_id=wanted)
        .first()
    )


def authorization_list(
    *, customer: Customer | None = None, customers: QuerySet[Customer] | None = None
) -> QuerySet[Authorization]:
    """Newest first; of one customer, of a set of customers, or all (finance)."""
    found = Authorization.objects.select_related("currency", "customer", "api_key").order_by("-pk")
    if customer is not None:
        found = found.filter(customer=customer)
    if customers is not None:
        found = found.filter(customer__in=customers)
    return found


def amount_display(amount_minor: int | None, scale: int | None) -> str | None:
    if amount_minor is None or scale is None:
        return None
    return from_minor_units(amount_minor, scale)


# --- prices ----------------------------------------------------------------------------


class _RetailPrices:
    """The process's RetailResolver, shared by request threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._resolver: RetailResolver | None = None
        self._checked_at = 0.0

    def get(self) -> RetailResolver:
        now = time.monotonic()
        with self._lock:
            due = now - self._checked_at > PRICE_RELOAD_CHECK_S
            if self._resolver is None or (due and self._resolver.is_stale()):
                self._resolver = RetailResolver.load()
            if due:
                self._checked_at = now
            return self._resolver

    def reset(self) -> None:
        """Forget the loaded prices (tests that publish prices call this)."""
        with self._lock:
            self._resolver = None
            self._checked_at = 0.0


retail_prices = _RetailPrices()


def _ceil_to_scale(amount_atto: int, scale: int) -> int:
    """Round UP from atto to the currency's scale: the hold must cover the worst case."""
    unit = 10 ** (ATTO_SCALE - scale)
    return -(-amount_atto // unit)


def authorization_estimate_minor(
    *,
    customer: Customer,
    provider: str,
    model: str,
    max_input_tokens: int,
    max_output_tokens: int,
    at: datetime,
) -> int:
    """The most a request can cost at the retail price in force at `at`: every input
    token at the input price, every output token at the output price (the tier's prices
    when the input may exceed the tier threshold), rounded up to the currency's scale."""
    resolver = retail_prices.get()
    try:
        quote = resolver.quote(
            seller_book_id=customer.book_id,
            provider=provider,
            model=resolver.prices.catalogue_model(provider, model),
            at=at,
            plan=customer.plan,
            customer=customer.external_id,
        )
    except DomainError as exc:
        raise ModelNotPriced(exc.message, details={"provider": provider, "model": model}) from exc
    price = quote.price
    if price.currency != customer.currency.code:
        raise ModelNotPriced(
            f"{provider}/{model} is priced in {price.currency}; the customer pays in "
            f"{customer.currency.code}",
            details={"provider": provider, "model": model},
        )
    threshold = price.tier_threshold_tokens
    above_tier = threshold is not None and max_input_tokens > threshold
    units = effective_prices(price, above_tier=above_tier)
    if (max_input_tokens and units.input is None) or (max_output_tokens and units.output is None):
        raise ModelNotPriced(
            f"{provider}/{model} has no input or output price",
            details={"provider": provider, "model": model},
        )
    amount_atto = max_input_tokens * (units.input or 0) + max_output_tokens * (units.output or 0)
    return _ceil_to_scale(amount_atto, customer.currency.scale)


# --- balances and spend ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeySpend:
    """What a key has spent or reserved: captured amounts plus open holds."""

    today_minor: int
    month_minor: int
    total_minor: int


def api_key_spend_get(*, api_key_id: int, day_start: datetime, month_start: datetime) -> KeySpend:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(s.amount) FILTER (WHERE s.created_at >= %s), 0),"
            "       coalesce(sum(s.amount) FILTER (WHERE s.created_at >= %s), 0),"
            "       coalesce(sum(s.amount), 0)"
            "  FROM (SELECT created_at,"
            "               CASE state WHEN 'open' THEN amount_minor"
            "                          WHEN 'captured' THEN captured_minor"
            "                          WHEN 'captured_by_usage' THEN captured_minor"
            "                          ELSE 0 END AS amount"
            "          FROM wallets_authorization"
            "         WHERE api_key_id = %s AND decision = 'approved') s",
            [day_start, month_start, api_key_id],
        )
        today, month, total = cursor.fetchone()
    return KeySpend(int(today), int(month), int(total))


def customer_account_code(customer: Customer) -> CustomerAccount:
    """(code, type) of the account the customer's usage debits (wallets.accounts)."""
    return customer_account(
        external_id=customer.external_id, prepaid=customer.billing == Customer.Billing.PREPAID
    )


def wallet_balance_get(*, customer: Customer) -> AccountBalance | None:
    """The customer account's balance and available balance; None before first use."""
    code, _type = customer_account_code(customer)
    return account_balance_find(book_id=customer.book_id, asset_id=customer.currency_id, code=code)


# --- lots ------------------------------------------------------------------------------

LOT_STATUS_OPEN, LOT_STATUS_EXHAUSTED, LOT_STATUS_EXPIRED = "open", "exhausted", "expired"


def lot_status(lot: Lot) -> str:
    """open (credit left), exhausted (all used, may still be given back), expired."""
    if lot.state == Lot.State.EXPIRED:
        return LOT_STATUS_EXPIRED
    return LOT_STATUS_OPEN if lot.remaining_minor > 0 else LOT_STATUS_EXHAUSTED


def lot_list(*, customer: Customer, status: str | None = None) -> QuerySet[Lot]:
    """The customer's lots in consumption order (priority, earliest expiry, oldest),
    expired ones last."""
    lots = Lot.objects.filter(customer=customer)
    if status == LOT_STATUS_EXPIRED:
        lots = lots.filter(state=Lot.State.EXPIRED)
    elif status in (LOT_STATUS_OPEN, LOT_STATUS_EXHAUSTED):
        remaining = F("amount_minor") - F("consumed_minor") - F("reversed_minor")
        lots = lots.alias(left=remaining - F("expired_minor")).filter(state=Lot.State.OPEN)
        lots = lots.filter(left__gt=0) if status == LOT_STATUS_OPEN else lots.filter(left=0)
    return lots.order_by(
        "-state", "priority", F("expires_at").asc(nulls_last=True), "opened_sequence", "pk"
    )


def lot_cursor_get(*, customer: Customer) -> LotCursor | None:
    return LotCursor.objects.filter(customer=customer).order_by("pk").first()
