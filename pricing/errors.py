"""The pricing app's errors: bad input or refused operations, each with a stable code."""

from config.errors import Conflict, DomainError, NotFound


class PricingError(DomainError):
    code = "pricing_error"


class CatalogueInvalid(PricingError):
    """The catalogue as a whole cannot be read (not JSON, not an object of entries)."""

    code = "catalogue_invalid"


class CatalogueConflict(Conflict):
    """Another catalogue file was already imported at this effective_from."""

    code = "catalogue_conflict"


class BackdatedVersion(Conflict):
    """A new version dated before the latest existing one would rewrite history."""

    code = "price_version_backdated"


class PriceBookConflict(Conflict):
    """A retail price book version exists at this effective_from with other terms."""

    code = "price_book_conflict"


class UpstreamPriceNotFound(NotFound):
    code = "upstream_price_not_found"


class RetailPriceBookNotFound(NotFound):
    code = "retail_price_book_not_found"


class CurrencyMismatch(PricingError):
    code = "currency_mismatch"


class InvalidTokenCounts(PricingError):
    code = "invalid_token_counts"


class PriceMissing(PricingError):
    """Tokens of a type the price version has no price for: never billed as free."""

    code = "price_missing"


class InvalidPrice(PricingError):
    code = "invalid_price"
