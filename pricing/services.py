"""Every write to the price books. Keyword-only arguments, one transaction each, an actor.

Versions are never edited: publishing prices appends rows with a later effective_from.
The rules, for the upstream catalogue and for each retail price book scope alike:
- the same input at the same effective_from is an idempotent replay;
- other input at an existing effective_from is refused (history is not rewritten);
- a version dated before the latest existing one is refused for the same reason.
"""

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from ledger.models import Book
from pricing.catalogue import ParsedEntry, parse_catalogue
from pricing.errors import (
    BackdatedVersion,
    CatalogueConflict,
    CatalogueInvalid,
    PriceBookConflict,
    PricingError,
)
from pricing.locks import price_list_lock
from pricing.models import CatalogImport, RetailPriceBook, RetailPriceOverride, UpstreamPrice
from pricing.rating import MARKUP_BPS_MAX, PRICE_FIELDS, OverrideTerms

CATALOG_BATCH_SIZE = 1000
CATALOG_ENTRIES_MAX = 100_000  # the LiteLLM map has ~5,000; refuse something absurd
RETAIL_OVERRIDES_MAX = 10_000

Progress = Callable[[int, int], None]  # (rows written so far, rows to write)


def _check_common(*, effective_from: datetime, actor: str) -> None:
    if not isinstance(effective_from, datetime) or effective_from.tzinfo is None:
        raise PricingError(f"effective_from must be a timezone-aware datetime: {effective_from!r}")
    if not actor or not actor.strip():
        raise PricingError("an actor is required")


# --- the upstream catalogue ------------------------------------------------------------


@dataclass(frozen=True)
class CatalogImportResult:
    catalog_import: CatalogImport
    replayed: bool  # True: this file was already imported at this effective_from


def _read_catalogue(path: str | Path | None, data: Mapping[str, Any] | None) -> tuple[dict, str]:
    if (path is None) == (data is None):
        raise PricingError("give exactly one of `path` or `data`")
    if path is not None:
        try:
            content = Path(path).read_bytes()
        except OSError as exc:
            raise CatalogueInvalid(f"cannot read the catalogue {path}: {exc}") from exc
        try:
            parsed = json.loads(content)
        except ValueError as exc:
            raise CatalogueInvalid(f"the catalogue {path} is not JSON: {exc}") from exc
        sha256 = hashlib.sha256(content).hexdigest()
    else:
        parsed = data
        try:
            canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise CatalogueInvalid(f"the catalogue data is not JSON-serialisable: {exc}") from exc
        sha256 = hashlib.sha256(canonical.encode()).hexdigest()
    if not isinstance(parsed, dict):
        raise CatalogueInvalid("the catalogue must be a JSON object of model entries")
    if len(parsed) > CATALOG_ENTRIES_MAX:
        raise CatalogueInvalid(
            f"the catalogue has {len(parsed)} entries (max {CATALOG_ENTRIES_MAX})"
        )
    return parsed, sha256


def _current_fingerprints() -> dict[tuple[str, str], str]:
    """The prices_sha256 of the latest version of every (provider, model)."""
    rows = (
        UpstreamPrice.objects.order_by("provider", "model", "-effective_from")
        .distinct("provider", "model")
        .values_list("provider", "model", "prices_sha256")
    )
    return {(provider, model): sha for provider, model, sha in rows}


def _upstream_row(entry: ParsedEntry, catalog_import: CatalogImport) -> UpstreamPrice:
    return UpstreamPrice(
        provider=entry.provider,
        model=entry.model,
        mode=entry.mode[:32],
        currency=entry.currency,
        effective_from=catalog_import.effective_from,
        catalog_import=catalog_import,
        raw_prices=entry.raw_prices,
        service_tiers=entry.service_tiers,
        prices_sha256=entry.prices_sha256,
        **entry.slots,
    )


def catalog_import(
    *,
    effective_from: datetime,
    actor: str,
    source_name: str = "litellm",
    path: str | Path | None = None,
    data: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> CatalogImportResult:
    """Import a LiteLLM price map: every entry is imported or listed as skipped.

    A new version is written only for entries whose prices differ from the version in
    force (or that are new); the others stay in force unchanged. An entry that vanishes
    from the catalogue keeps its last version in force.
    """
    _check_common(effective_from=effective_from, actor=actor)
    if not source_name:
        raise PricingError("a source_name is required")
    catalogue, sha256 = _read_catalogue(path, data)
    parsed, skipped = parse_catalogue(catalogue)  # pure and fast: outside the transaction
    with transaction.atomic():
        price_list_lock("pricing.catalog_import")
        existing = CatalogImport.objects.filter(effective_from=effective_from).first()
        if existing is not None:
            if existing.file_sha256 == sha256:
                return CatalogImportResult(existing, replayed=True)
            raise CatalogueConflict(
                f"another catalogue ({existing.source_name}, sha256 {existing.file_sha256[:12]}…) "
                f"was imported at {effective_from.isoformat()}; publish a new one with a "
                "later effective_from instead",
                details={"catalog_import": existing.id, "file_sha256": existing.file_sha256},
            )
        latest = CatalogImport.objects.order_by("-effective_from").first()
        if latest is not None and latest.effective_from > effective_from:
            raise BackdatedVersion(
                f"a catalogue is in force from {latest.effective_from.isoformat()}; importing "
                f"one from {effective_from.isoformat()} would rewrite history",
                details={"latest_effective_from": latest.effective_from.isoformat()},
            )
        current = _current_fingerprints()
        changed = [e for e in parsed if current.get((e.provider, e.model)) != e.prices_sha256]
        record = CatalogImport.objects.create(
            source_name=source_name,
            file_sha256=sha256,
            effective_from=effective_from,
            imported_at=timezone.now(),
            actor=actor,
            entries_total=len(catalogue),
            imported_count=len(parsed),
            skipped_count=len(skipped),
            versions_created_count=len(changed),
            skipped=[entry.as_json() for entry in skipped],
        )
        written = 0
        for start in range(0, len(changed), CATALOG_BATCH_SIZE):
            batch = [_upstream_row(e, record) for e in changed[start : start + CATALOG_BATCH_SIZE]]
            UpstreamPrice.objects.bulk_create(batch)
            written += len(batch)
            if progress is not None:
                progress(written, len(changed))
        assert written == len(changed)
        assert record.imported_count + record.skipped_count == record.entries_total
    return CatalogImportResult(record, replayed=False)


# --- retail price books ----------------------------------------------------------------


@dataclass(frozen=True)
class RetailOverrideSpec:
    model: str
    terms: OverrideTerms
    provider: str = ""  # empty: the model under any provider


def _override_key(spec: RetailOverrideSpec) -> tuple[str, str]:
    return spec.provider, spec.model


def _normalised(overrides: Sequence[RetailOverrideSpec]) -> list[RetailOverrideSpec]:
    if len(overrides) > RETAIL_OVERRIDES_MAX:
        raise PricingError(f"{len(overrides)} overrides (max {RETAIL_OVERRIDES_MAX})")
    result: dict[tuple[str, str], RetailOverrideSpec] = {}
    for spec in overrides:
        if not isinstance(spec.terms, OverrideTerms):
            raise PricingError(f"override terms for {spec.model!r} must be OverrideTerms")
        if not spec.model:
            raise PricingError("an override needs a model")
        if spec.terms.markup_bps is None and not spec.terms.has_explicit_prices:
            raise PricingError(f"the override for {spec.model!r} sets neither prices nor markup")
        normal = RetailOverrideSpec(spec.model, spec.terms, spec.provider.strip().lower())
        if _override_key(normal) in result:
            raise PricingError(f"two overrides for {normal.provider or '*'}/{normal.model}")
        result[_override_key(normal)] = normal
    return [result[key] for key in sorted(result)]


def _terms_sha256(*, name: str, markup_bps: int, currency: str, overrides) -> str:
    canonical = json.dumps(
        {
            "name": name,
            "markup_bps": markup_bps,
            "currency": currency,
            "overrides": [
                {"provider": o.provider, "model": o.model, **asdict(o.terms)} for o in overrides
            ],
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _scope_lock(book_id: int, plan: str, customer: str) -> None:
    price_list_lock(f"pricing.retail:{book_id}:{plan}:{customer}")


def retail_price_book_create(
    *,
    book: Book,
    name: str,
    effective_from: datetime,
    actor: str,
    markup_bps: int = 0,
    plan: str = "",
    customer: str = "",
    currency: str = "USD",
    overrides: Sequence[RetailOverrideSpec] = (),
) -> RetailPriceBook:
    """Publish a version of a price list: the seller book's default (no plan, no
    customer), a plan's, or one customer's. The version is complete: its markup applies
    to every model without an override."""
    _check_common(effective_from=effective_from, actor=actor)
    if not name:
        raise PricingError("a price book needs a name")
    if plan and customer:
        raise PricingError("a price book is for a plan or for a customer, not both")
    if type(markup_bps) is not int or not 0 <= markup_bps <= MARKUP_BPS_MAX:
        raise PricingError(f"markup_bps must be an integer in 0..{MARKUP_BPS_MAX}: {markup_bps!r}")
    if len(currency) != 3 or not currency.isalpha() or not currency.isupper():
        raise PricingError(f"currency must be an ISO code such as USD, not {currency!r}")
    specs = _normalised(overrides)
    sha256 = _terms_sha256(name=name, markup_bps=markup_bps, currency=currency, overrides=specs)
    with transaction.atomic():
        _scope_lock(book.id, plan, customer)
        versions = RetailPriceBook.objects.filter(book=book, plan=plan, customer=customer)
        existing = versions.filter(effective_from=effective_from).first()
        if existing is not None:
            if existing.terms_sha256 == sha256:
                return existing
            raise PriceBookConflict(
                f"price book {existing.id} already has other terms from "
                f"{effective_from.isoformat()}; publish a new version with a later date",
                details={"retail_price_book": existing.id},
            )
        latest = versions.order_by("-effective_from").first()
        if latest is not None and latest.effective_from > effective_from:
            raise BackdatedVersion(
                f"price book version {latest.id} is in force from "
                f"{latest.effective_from.isoformat()}; a version from "
                f"{effective_from.isoformat()} would rewrite history",
                details={"retail_price_book": latest.id},
            )
        price_book = RetailPriceBook.objects.create(
            book=book,
            name=name,
            plan=plan,
            customer=customer,
            markup_bps=markup_bps,
            currency=currency,
            effective_from=effective_from,
            created_at=timezone.now(),
            actor=actor,
            terms_sha256=sha256,
        )
        RetailPriceOverride.objects.bulk_create(
            [
                RetailPriceOverride(
                    price_book=price_book,
                    provider=spec.provider,
                    model=spec.model,
                    markup_bps=spec.terms.markup_bps,
                    **{field: getattr(spec.terms, field) for field in PRICE_FIELDS},
                )
                for spec in specs
            ]
        )
    return price_book


def retail_price_book_revise(
    *,
    price_book: RetailPriceBook,
    effective_from: datetime,
    actor: str,
    markup_bps: int | None = None,
    name: str | None = None,
    set_overrides: Sequence[RetailOverrideSpec] = (),
    remove_overrides: Sequence[tuple[str, str]] = (),
) -> RetailPriceBook:
    """A new version of `price_book` (which must be its scope's latest) with changes:
    a new markup, overrides added or replaced, overrides removed ((provider, model))."""
    _check_common(effective_from=effective_from, actor=actor)
    with transaction.atomic():
        _scope_lock(price_book.book_id, price_book.plan, price_book.customer)
        latest = (
            RetailPriceBook.objects.filter(
                book_id=price_book.book_id, plan=price_book.plan, customer=price_book.customer
            )
            .order_by("-effective_from")
            .first()
        )
        # A retry of this very revision finds its own version as the latest: it goes on,
        # and retail_price_book_create replays it (or refuses other terms).
        is_retry = latest is not None and latest.effective_from == effective_from
        if latest is None or (latest.id != price_book.id and not is_retry):
            raise PriceBookConflict(
                f"price book {price_book.id} is not the latest version of its scope; "
                f"revise version {latest.id if latest else '?'} instead",
                details={"latest": latest.id if latest else None},
            )
        merged = {
            (o.provider, o.model): RetailOverrideSpec(o.model, o.terms(), o.provider)
            for o in price_book.overrides.all()
        }
        for key in remove_overrides:
            provider, model = key[0].strip().lower(), key[1]
            if merged.pop((provider, model), None) is None:
                raise PricingError(f"price book {price_book.id} has no override {key!r}")
        for spec in _normalised(set_overrides):
            merged[_override_key(spec)] = spec
        return retail_price_book_create(
            book=price_book.book,
            name=name if name is not None else price_book.name,
            effective_from=effective_from,
            actor=actor,
            markup_bps=markup_bps if markup_bps is not None else price_book.markup_bps,
            plan=price_book.plan,
            customer=price_book.customer,
            currency=price_book.currency,
            overrides=list(merged.values()),
        )
