"""Reads of the price books: the version in force at a moment, and in-memory resolvers.

The metering consumer rates tens of thousands of events per second and cannot query per
event: it loads a `PriceResolver` (and a `RetailResolver` on top) once, resolves in
O(log n) by bisecting each model's versions, and reloads when `is_stale()` says a newer
catalogue or price book was published. A late event is priced with the version whose
effective_from is the latest one at or before the moment the event occurred.
"""

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, NamedTuple

from django.db.models import Count, Max, Q

from pricing.catalogue import SERVICE_TIERS, price_slots
from pricing.errors import (
    CurrencyMismatch,
    PricingError,
    RetailPriceBookNotFound,
    UpstreamPriceNotFound,
)
from pricing.models import CatalogImport, RetailPriceBook, RetailPriceOverride, UpstreamPrice
from pricing.rating import (
    PRICE_FIELDS,
    TOKEN_TYPES,
    OverrideTerms,
    PriceVersion,
    compose_retail,
    effective_prices,
)

_UPSTREAM_COLUMNS = (
    "id",
    "provider",
    "model",
    "currency",
    "effective_from",
    "tier_threshold_tokens",
    *PRICE_FIELDS,
    "service_tiers",
    "raw_prices",
)


def provider_known(*, provider: str) -> bool:
    """Whether the upstream catalogue prices any model of this provider (as usage records
    and LiteLLM's litellm_provider name it): settlement refuses contracts with others."""
    return UpstreamPrice.objects.filter(provider=provider).exists()


def _check_at(at: datetime) -> None:
    if not isinstance(at, datetime) or at.tzinfo is None:
        raise PricingError(f"`at` must be a timezone-aware datetime, not {at!r}")


def _check_service_tier(service_tier: str) -> None:
    if service_tier and service_tier not in SERVICE_TIERS:
        raise PricingError(
            f"unknown service tier {service_tier!r}; known: {', '.join(SERVICE_TIERS)}"
        )


def _version(row: Mapping[str, Any]) -> PriceVersion:
    return PriceVersion(
        provider=row["provider"],
        model=row["model"],
        currency=row["currency"],
        effective_from=row["effective_from"],
        tier_threshold_tokens=row["tier_threshold_tokens"],
        id=row["id"],
        **{name: row[name] for name in PRICE_FIELDS},
    )


def service_tier_version(
    base: PriceVersion, raw_prices: Mapping[str, Any], service_tier: str
) -> PriceVersion:
    """The version's prices for a service tier (batches, priority, ...): the tier's
    catalogue prices over the standard ones, field by field, as LiteLLM falls back."""
    if not service_tier:
        return base
    _check_service_tier(service_tier)
    slots = price_slots(raw_prices, service_tier, provider=base.provider)
    return replace(base, service_tier=service_tier, **slots)


# --- upstream cost ---------------------------------------------------------------------


def upstream_price_at(
    *, provider: str, model: str, at: datetime, service_tier: str = ""
) -> PriceVersion | None:
    """The upstream version in force at `at`: the latest effective_from <= at."""
    _check_at(at)
    _check_service_tier(service_tier)
    row = (
        UpstreamPrice.objects.filter(provider=provider, model=model, effective_from__lte=at)
        .order_by("-effective_from")
        .values(*_UPSTREAM_COLUMNS)
        .first()
    )
    if row is None:
        return None
    return service_tier_version(_version(row), row["raw_prices"], service_tier)


def catalog_import_signature() -> tuple[int, int | None]:
    """(count, latest id) of catalogue imports: changes whenever one commits. Rows are
    never deleted, so an import that commits out of id order still changes the count."""
    found = CatalogImport.objects.aggregate(count=Count("id"), latest=Max("id"))
    return found["count"], found["latest"]


def retail_price_book_signature() -> tuple[int, int | None]:
    found = RetailPriceBook.objects.aggregate(count=Count("id"), latest=Max("id"))
    return found["count"], found["latest"]


class PriceResolver:
    """Every upstream version in memory, bisected per (provider, model)."""

    def __init__(
        self,
        versions: Iterable[tuple[PriceVersion, Mapping[str, Any] | None]],
        *,
        signature: tuple[int, int | None] | None = None,
    ):
        grouped: dict[tuple[str, str], list[PriceVersion]] = {}
        self._raw_prices: dict[int, Mapping[str, Any]] = {}
        for version, raw_prices in versions:
            grouped.setdefault((version.provider, version.model), []).append(version)
            if raw_prices and version.id is not None:
                self._raw_prices[version.id] = raw_prices
        self._times: dict[tuple[str, str], list[datetime]] = {}
        self._versions: dict[tuple[str, str], list[PriceVersion]] = {}
        for key, found in grouped.items():
            found.sort(key=lambda version: version.effective_from)
            times = [version.effective_from for version in found]
            assert len(set(times)) == len(times), f"two versions of {key} at one moment"
            self._times[key] = times
            self._versions[key] = found
        self._tier_versions: dict[tuple[int, str], PriceVersion] = {}
        self.signature = signature
        self.version_count = sum(len(found) for found in self._versions.values())

    @classmethod
    def load(cls) -> "PriceResolver":
        # The signature is read first: rows committed after it make is_stale() true, so
        # at worst the caller reloads once more than needed, never misses a version.
        signature = catalog_import_signature()
        rows = UpstreamPrice.objects.values(*_UPSTREAM_COLUMNS)
        versions = []
        for row in rows.iterator(chunk_size=5000):
            raw = row["raw_prices"] if row["service_tiers"] else None
            versions.append((_version(row), raw))
        return cls(versions, signature=signature)

    def is_stale(self) -> bool:
        """One cheap query: has a catalogue been imported since this resolver loaded?"""
        return catalog_import_signature() != self.signature

    def get(
        self, provider: str, model: str, at: datetime, service_tier: str = ""
    ) -> PriceVersion | None:
        times = self._times.get((provider, model))
        if times is None:
            return None
        if at.tzinfo is None:
            raise PricingError(f"`at` must be a timezone-aware datetime, not {at!r}")
        index = bisect_right(times, at) - 1
        if index < 0:
            return None
        version = self._versions[(provider, model)][index]
        if not service_tier:
            return version
        return self._tier_version(version, service_tier)

    def resolve(
        self, provider: str, model: str, at: datetime, service_tier: str = ""
    ) -> PriceVersion:
        version = self.get(provider, model, at, service_tier)
        if version is None:
            raise UpstreamPriceNotFound(
                f"no upstream price for {provider}/{model} in force at {at.isoformat()}",
                details={"provider": provider, "model": model, "at": at.isoformat()},
            )
        return version

    def _tier_version(self, version: PriceVersion, service_tier: str) -> PriceVersion:
        key = (version.id, service_tier)
        found = self._tier_versions.get(key)
        if found is None:
            _check_service_tier(service_tier)
            raw = self._raw_prices.get(version.id)
            if raw is None:  # the catalogue has no tier prices for it: the standard ones
                found = replace(version, service_tier=service_tier)
            else:
                found = service_tier_version(version, raw, service_tier)
            self._tier_versions[key] = found
        return found

    def models(self) -> list[tuple[str, str]]:
        return sorted(self._versions)

    def catalogue_model(self, provider: str, model: str) -> str:
        """The model's name as the catalogue spells it: the catalogue names some models
        with their provider ("deepseek/deepseek-chat") and others without ("gpt-4o"), and
        gateways report either. A model the catalogue has neither way stays as it came."""
        versions = self._versions
        if (provider, model) not in versions:
            prefixed = f"{provider}/{model}"
            if (provider, prefixed) in versions:
                return prefixed
        return model


# --- retail price ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetailQuote:
    """A retail price and the versions it was made from (to keep on the usage record)."""

    price: PriceVersion  # what the buyer pays per token (id None: composed)
    cost: PriceVersion  # the upstream cost version in force
    upstream_price_id: int
    retail_price_book_id: int
    retail_override_id: int | None


class _BookVersion(NamedTuple):
    id: int
    book_id: int
    plan: str
    customer: str
    markup_bps: int
    currency: str
    effective_from: datetime


class _Override(NamedTuple):
    id: int
    terms: OverrideTerms


QUOTE_CACHE_SIZE_MAX = 100_000
_BOOK_COLUMNS = ("id", "book_id", "plan", "customer", "markup_bps", "currency", "effective_from")


def retail_scopes(seller_book_id: int, plan: str, customer: str) -> list[tuple[int, str, str]]:
    """Where to look, in order: the customer's own list, the plan's, the seller's default."""
    scopes = []
    if customer:
        scopes.append((seller_book_id, "", customer))
    if plan:
        scopes.append((seller_book_id, plan, ""))
    scopes.append((seller_book_id, "", ""))
    return scopes


def _quote(book: _BookVersion, override: _Override | None, cost: PriceVersion) -> RetailQuote:
    if book.currency != cost.currency:
        raise CurrencyMismatch(
            f"price book {book.id} is in {book.currency}; {cost.provider}/{cost.model} "
            f"costs {cost.currency}",
            details={"retail_price_book": book.id, "upstream_price": cost.id},
        )
    price = compose_retail(
        cost,
        markup_bps=book.markup_bps,
        override=override.terms if override is not None else None,
        effective_from=max(cost.effective_from, book.effective_from),
    )
    assert cost.id is not None
    return RetailQuote(
        price=price,
        cost=cost,
        upstream_price_id=cost.id,
        retail_price_book_id=book.id,
        retail_override_id=override.id if override is not None else None,
    )


def _no_book(
    seller_book_id: int, plan: str, customer: str, at: datetime
) -> RetailPriceBookNotFound:
    return RetailPriceBookNotFound(
        f"book {seller_book_id} has no retail price book in force at {at.isoformat()} "
        f"(plan {plan or '-'}, customer {customer or '-'})",
        details={"seller_book": seller_book_id, "plan": plan, "customer": customer},
    )


def _override_terms(override: RetailPriceOverride) -> _Override:
    return _Override(override.id, override.terms())


def retail_price_at(
    *,
    seller_book_id: int,
    provider: str,
    model: str,
    at: datetime,
    plan: str = "",
    customer: str = "",
    service_tier: str = "",
) -> RetailQuote:
    """The retail price in force at `at` with a few queries (for one-off lookups; the
    consumer uses RetailResolver). Same rules as RetailResolver.quote."""
    _check_at(at)
    book = None
    for book_id, scope_plan, scope_customer in retail_scopes(seller_book_id, plan, customer):
        book = (
            RetailPriceBook.objects.filter(
                book_id=book_id, plan=scope_plan, customer=scope_customer, effective_from__lte=at
            )
            .order_by("-effective_from")
            .values_list(*_BOOK_COLUMNS, named=True)
            .first()
        )
        if book is not None:
            break
    if book is None:
        raise _no_book(seller_book_id, plan, customer, at)
    candidates = {
        override.provider: override
        for override in RetailPriceOverride.objects.filter(
            price_book_id=book.id, model=model, provider__in={provider, ""}
        )
    }
    chosen = candidates.get(provider) or candidates.get("")
    cost = upstream_price_at(provider=provider, model=model, at=at, service_tier=service_tier)
    if cost is None:
        raise UpstreamPriceNotFound(
            f"no upstream price for {provider}/{model} in force at {at.isoformat()}",
            details={"provider": provider, "model": model, "at": at.isoformat()},
        )
    book_version = _BookVersion(*book)
    return _quote(book_version, _override_terms(chosen) if chosen else None, cost)


class RetailResolver:
    """Every retail price book version and override in memory, over a PriceResolver."""

    def __init__(
        self,
        prices: PriceResolver,
        books: Iterable[_BookVersion],
        overrides: Iterable[tuple[int, str, str, _Override]],
        *,
        signature: tuple[int, int | None] | None = None,
    ):
        self.prices = prices
        grouped: dict[tuple[int, str, str], list[_BookVersion]] = {}
        for book in books:
            grouped.setdefault((book.book_id, book.plan, book.customer), []).append(book)
        self._times: dict[tuple[int, str, str], list[datetime]] = {}
        self._books: dict[tuple[int, str, str], list[_BookVersion]] = {}
        for scope, found in grouped.items():
            found.sort(key=lambda book: book.effective_from)
            self._times[scope] = [book.effective_from for book in found]
            self._books[scope] = found
        self._overrides: dict[int, dict[tuple[str, str], _Override]] = {}
        for price_book_id, provider, model, override in overrides:
            self._overrides.setdefault(price_book_id, {})[(provider, model)] = override
        self.signature = signature
        # A quote depends only on the versions it combines: memoised, and bounded.
        self._quotes: dict[tuple[int, int | None, int | None, str], RetailQuote] = {}

    @classmethod
    def load(cls, prices: PriceResolver | None = None) -> "RetailResolver":
        signature = retail_price_book_signature()  # first: see PriceResolver.load
        books = [_BookVersion(*row) for row in RetailPriceBook.objects.values_list(*_BOOK_COLUMNS)]
        # An override is inserted with its book in one transaction: if the book is
        # visible here its overrides are; a book committed in between makes us stale.
        book_ids = {book.id for book in books}
        overrides = [
            (override.price_book_id, override.provider, override.model, _override_terms(override))
            for override in RetailPriceOverride.objects.all()
            if override.price_book_id in book_ids
        ]
        return cls(prices or PriceResolver.load(), books, overrides, signature=signature)

    def is_stale(self) -> bool:
        return self.prices.is_stale() or retail_price_book_signature() != self.signature

    def _book_at(self, scope: tuple[int, str, str], at: datetime) -> _BookVersion | None:
        times = self._times.get(scope)
        if times is None:
            return None
        index = bisect_right(times, at) - 1
        return self._books[scope][index] if index >= 0 else None

    def quote(
        self,
        *,
        seller_book_id: int,
        provider: str,
        model: str,
        at: datetime,
        plan: str = "",
        customer: str = "",
        service_tier: str = "",
    ) -> RetailQuote:
        """Customer's list, else the plan's, else the seller's default (the first that has
        a version in force at `at`); within it, the override for (provider, model), else
        for the model under any provider, else the list's markup over cost."""
        if at.tzinfo is None:
            raise PricingError(f"`at` must be a timezone-aware datetime, not {at!r}")
        book = None
        for scope in retail_scopes(seller_book_id, plan, customer):
            book = self._book_at(scope, at)
            if book is not None:
                break
        if book is None:
            raise _no_book(seller_book_id, plan, customer, at)
        cost = self.prices.resolve(provider, model, at, service_tier)
        overrides = self._overrides.get(book.id)
        override = None
        if overrides:
            override = overrides.get((provider, model)) or overrides.get(("", model))
        key = (book.id, override.id if override else None, cost.id, cost.service_tier)
        found = self._quotes.get(key)
        if found is None:
            found = _quote(book, override, cost)
            if len(self._quotes) >= QUOTE_CACHE_SIZE_MAX:
                self._quotes.clear()
            self._quotes[key] = found
        return found


# --- reports ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NegativeMargin:
    """A token type whose retail price (an explicit override) is below its cost."""

    retail_price_book_id: int
    price_book_name: str
    seller_book_id: int
    plan: str
    customer: str
    retail_override_id: int
    upstream_price_id: int
    provider: str
    model: str
    service_tier: str  # "" standard
    above_tier: bool
    token_type: str
    retail_per_token_atto: int
    cost_per_token_atto: int

    @property
    def shortfall_per_token_atto(self) -> int:
        return self.cost_per_token_atto - self.retail_per_token_atto


def retail_price_books_in_force(*, at: datetime) -> list[RetailPriceBook]:
    """The version of every price book scope in force at `at`."""
    _check_at(at)
    return list(
        RetailPriceBook.objects.filter(effective_from__lte=at)
        .order_by("book_id", "plan", "customer", "-effective_from")
        .distinct("book_id", "plan", "customer")
    )


def negative_margin_report(*, at: datetime) -> list[NegativeMargin]:
    """Every (retail book, model, service tier, tier regime, token type) whose retail
    price is below the upstream cost in force at `at`.

    Only explicit override prices can be below cost: markups are >= 0 (the database
    refuses negative ones) and round down from cost * (1 + markup) >= cost. The
    comparison uses the prices each token type is actually billed at, so a fallback
    (cache reads billed as input, reasoning as output) is checked as well.
    """
    books = {book.id: book for book in retail_price_books_in_force(at=at)}
    overrides = RetailPriceOverride.objects.filter(price_book_id__in=books).order_by("id")
    found: list[NegativeMargin] = []
    for override in overrides:
        terms = override.terms()
        if not terms.has_explicit_prices:
            continue
        book = books[override.price_book_id]
        if override.provider:
            providers = [override.provider]
        else:
            providers = sorted(
                set(
                    UpstreamPrice.objects.filter(
                        model=override.model, effective_from__lte=at
                    ).values_list("provider", flat=True)
                )
            )
        for provider in providers:
            row = (
                UpstreamPrice.objects.filter(
                    provider=provider, model=override.model, effective_from__lte=at
                )
                .order_by("-effective_from")
                .values(*_UPSTREAM_COLUMNS)
                .first()
            )
            if row is None:
                continue
            base = _version(row)
            for service_tier in ["", *row["service_tiers"]]:
                cost = service_tier_version(base, row["raw_prices"], service_tier)
                retail = compose_retail(
                    cost, markup_bps=book.markup_bps, override=terms, effective_from=at
                )
                regimes = [False] if cost.tier_threshold_tokens is None else [False, True]
                for above in regimes:
                    retail_prices = effective_prices(retail, above_tier=above)
                    cost_prices = effective_prices(cost, above_tier=above)
                    for token_type, retail_price, cost_price in zip(
                        TOKEN_TYPES, retail_prices, cost_prices, strict=True
                    ):
                        if retail_price is None or cost_price is None:
                            continue
                        if retail_price < cost_price:
                            found.append(
                                NegativeMargin(
                                    retail_price_book_id=book.id,
                                    price_book_name=book.name,
                                    seller_book_id=book.book_id,
                                    plan=book.plan,
                                    customer=book.customer,
                                    retail_override_id=override.id,
                                    upstream_price_id=base.id,
                                    provider=provider,
                                    model=override.model,
                                    service_tier=service_tier,
                                    above_tier=above,
                                    token_type=token_type,
                                    retail_per_token_atto=retail_price,
                                    cost_per_token_atto=cost_price,
                                )
                            )
    return found


def price_versions_named_list(
    *, named: Iterable[tuple[int, int | None, int | None, bool]]
) -> dict[tuple[int, int | None, int | None, bool], PriceVersion]:
    """The price a buyer paid, composed again from the versions a usage record names:
    (upstream price id, price book id, override id, find_override). `find_override` is
    for wholesale prices, whose override the record does not name: it is looked up in
    the price book by model (the catalogue's spelling), as rating does. A record with no
    price book was rated at cost. Three queries whatever the number of versions."""
    named = set(named)
    upstream = {
        row.id: row.price_version()
        for row in UpstreamPrice.objects.filter(id__in={key[0] for key in named})
    }
    books = RetailPriceBook.objects.in_bulk({key[1] for key in named if key[1] is not None})
    overrides = list(
        RetailPriceOverride.objects.filter(
            Q(id__in={key[2] for key in named if key[2] is not None})
            | Q(price_book_id__in={key[1] for key in named if key[3]})
        )
    )
    by_id = {override.id: override for override in overrides}
    by_model = {(o.price_book_id, o.provider, o.model): o for o in overrides}
    versions = {}
    for key in named:
        upstream_id, book_id, override_id, find_override = key
        cost = upstream[upstream_id]
        book = books.get(book_id)
        if book is None:
            versions[key] = cost
            continue
        override = by_id.get(override_id)
        if override is None and find_override:
            override = by_model.get((book_id, cost.provider, cost.model)) or by_model.get(
                (book_id, "", cost.model)
            )
        versions[key] = compose_retail(
            cost,
            markup_bps=book.markup_bps,
            override=override.terms() if override is not None else None,
            effective_from=max(cost.effective_from, book.effective_from),
        )
    return versions
