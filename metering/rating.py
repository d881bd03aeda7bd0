"""Rating one usage event: the customer's price, the reseller's wholesale price and the
upstream cost, each at the versions in force when the event occurred.

Prices come from pricing's in-memory resolvers (loaded once, reloaded when a catalogue
or price book is published), so rating costs no query per event. Amounts are exact in
atto-units and rounded once, half-even, to the currency's scale; the remainders are
kept on the usage record.
"""

import time
from dataclasses import dataclass

import pydantic_core

from config.errors import DomainError
from metering.postings import RatedUsage
from pricing.rating import PriceVersion, TokenCounts, effective_prices, rate, to_scale
from pricing.selectors import RetailResolver

RELOAD_CHECK_S = 30.0  # how often the resolver asks whether prices were published
UNIT_PRICE_CACHE_MAX = 100_000


class Unrateable(Exception):
    """An event that is valid but cannot be priced: it goes to the dead-letter topic."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


# Not frozen: a frozen dataclass's __init__ sets each field through object.__setattr__,
# a cost on every event; nothing mutates a rated event after rate().
@dataclass(slots=True)
class RatedEvent:
    usage: RatedUsage
    asset_id: int
    currency: str
    price_minor: int
    wholesale_minor: int | None
    cost_minor: int
    price_remainder_atto: int
    cost_remainder_atto: int
    upstream_price_id: int
    retail_price_book_id: int
    retail_override_id: int | None
    wholesale_price_book_id: int | None
    metadata_json: str


class Rater:
    def __init__(self, retail: RetailResolver | None = None) -> None:
        self._retail = retail
        self._checked_at = time.monotonic()
        # id(price) -> (price, unit prices below the tier, above it). The `is` check on
        # lookup makes a reused id of a freed price harmless.
        self._unit_prices: dict[int, tuple[PriceVersion, tuple, tuple]] = {}

    @property
    def retail(self) -> RetailResolver:
        now = time.monotonic()
        if self._retail is None or (
            now - self._checked_at > RELOAD_CHECK_S and self._retail.is_stale()
        ):
            self._retail = RetailResolver.load()
            self._unit_prices.clear()
        if now - self._checked_at > RELOAD_CHECK_S:
            self._checked_at = now
        return self._retail

    def warm_up(self) -> None:
        _ = self.retail  # loads the price books

    def _amount_atto(self, counts: tuple[int, ...], prompt_tokens: int, price: PriceVersion) -> int:
        """pricing.rating.rate(...).amount_atto, with the unit prices cached per version:
        rating is the consumer's hottest loop."""
        cached = self._unit_prices.get(id(price))
        if cached is None or cached[0] is not price:
            if len(self._unit_prices) >= UNIT_PRICE_CACHE_MAX:
                self._unit_prices.clear()
            cached = (
                price,
                tuple(effective_prices(price, above_tier=False)),
                tuple(effective_prices(price, above_tier=True)),
            )
            self._unit_prices[id(price)] = cached
        threshold = price.tier_threshold_tokens
        units = cached[2] if threshold is not None and prompt_tokens > threshold else cached[1]
        total = 0
        for count, unit in zip(counts, units, strict=True):
            if count:
                if unit is None:  # let pricing raise PriceMissing with its message
                    return rate(TokenCounts(*counts), price).amount_atto
                total += count * unit
        return total

    def rate(self, event, customer) -> RatedEvent:
        tokens = event.tokens
        retail = self.retail
        model = retail.prices.catalogue_model(event.provider, event.model)
        counts = (
            tokens.input,
            tokens.output,
            tokens.cache_read,
            tokens.cache_write,
            tokens.reasoning,
        )
        prompt_tokens = tokens.input + tokens.cache_read + tokens.cache_write
        try:
            quote = retail.quote(
                seller_book_id=customer.seller_book_id,
                provider=event.provider,
                model=model,
                at=event.occurred_at,
                plan=customer.plan,
                customer=customer.external_id,
            )
            wholesale = None
            if customer.seller_book_id != customer.distributor_book_id:
                # The distributor's price to this reseller: its list for the reseller's book.
                wholesale = retail.quote(
                    seller_book_id=customer.distributor_book_id,
                    provider=event.provider,
                    model=model,
                    at=event.occurred_at,
                    customer=customer.seller_book_code,
                )
            price_atto = self._amount_atto(counts, prompt_tokens, quote.price)
            cost_atto = self._amount_atto(counts, prompt_tokens, quote.cost)
            wholesale_atto = (
                self._amount_atto(counts, prompt_tokens, wholesale.price) if wholesale else None
            )
        except DomainError as exc:  # no price, no price book, a price missing
            raise Unrateable(exc.code, exc.message) from exc
        if quote.price.currency != customer.asset_code:
            raise Unrateable(
                "currency_mismatch",
                f"{event.provider}/{event.model} is priced in {quote.price.currency}; "
                f"customer {customer.external_id!r} pays in {customer.asset_code}",
            )
        scale = customer.asset_scale
        price_minor, price_remainder = to_scale(price_atto, scale)
        cost_minor, cost_remainder = to_scale(cost_atto, scale)
        wholesale_minor = to_scale(wholesale_atto, scale)[0] if wholesale else None
        return RatedEvent(
            usage=RatedUsage(
                customer=customer.external_id,
                prepaid=customer.prepaid,
                provider=event.provider,
                seller_book_id=customer.seller_book_id,
                seller_book_code=customer.seller_book_code,
                distributor_book_id=customer.distributor_book_id,
                distributor_book_code=customer.distributor_book_code,
                price_minor=price_minor,
                wholesale_minor=wholesale_minor,
                cost_minor=cost_minor,
            ),
            asset_id=customer.asset_id,
            currency=customer.asset_code,
            price_minor=price_minor,
            wholesale_minor=wholesale_minor,
            cost_minor=cost_minor,
            price_remainder_atto=price_remainder,
            cost_remainder_atto=cost_remainder,
            upstream_price_id=quote.upstream_price_id,
            retail_price_book_id=quote.retail_price_book_id,
            retail_override_id=quote.retail_override_id,
            wholesale_price_book_id=wholesale.retail_price_book_id if wholesale else None,
            # The jsonb column orders keys itself: pydantic-core's encoder, a fifth of
            # json.dumps(sort_keys=True)'s time on a LiteLLM record's context.
            metadata_json=pydantic_core.to_json(event.metadata).decode()
            if event.metadata
            else "{}",
        )
