"""Contracts and commitment purchases: every write of their rows and the purchase's
ledger event. The draw-down and breakage jobs are in settlement.commitments.drawdown.

Buying a commitment books, in the contract's book and currency,
  Dr prepaid_capacity:<provider>:<commitment id> / Cr cash:bank or payable:<provider>
and, for a commitment bought in tokens, in the TOKENS asset (scale 0),
  Dr prepaid_tokens:<provider>:<commitment id> / Cr tokens_bought:<provider>
(settlement.commitments.postings). The capacity and token accounts may not go below
zero: the database refuses a draw-down or breakage larger than what is left.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from ledger import services as ledger_services
from ledger.amounts import InvalidAmount
from ledger.models import Account, Asset, Book
from ledger.posting_rules import AMOUNT_MAX
from pricing import selectors as pricing_selectors
from settlement.commitments.models import BPS_MAX, Commitment, Contract
from settlement.commitments.postings import PURCHASE_EVENT
from settlement.errors import (
    ContractConflict,
    CurrencyMismatch,
    IdempotencyConflict,
    IdempotencyKeyRequired,
    InvalidCommitment,
    InvalidContract,
    UnknownProvider,
)

NAME_LENGTH_MAX = 200
MODEL_LENGTH_MAX = 200
COVERED_MODELS_MAX = 500
PRIORITY_MIN, PRIORITY_MAX = 0, 32_767
IDEMPOTENCY_KEY_LENGTH_MAX = 150  # stored with a prefix in the ledger's 200


def capacity_account_code(provider: str, commitment_id: int) -> str:
    return f"prepaid_capacity:{provider}:{commitment_id}"


def payable_account_code(provider: str) -> str:
    return f"payable:{provider}"


def cogs_account_code(provider: str) -> str:
    """Metering's cost of usage bought from the provider (metering.postings)."""
    return f"cogs:{provider}"


def token_account_code(provider: str, commitment_id: int) -> str:
    return f"prepaid_tokens:{provider}:{commitment_id}"


def tokens_bought_account_code(provider: str) -> str:
    return f"tokens_bought:{provider}"


def tokens_used_account_code(provider: str) -> str:
    return f"tokens_used:{provider}"


def tokens_expired_account_code(provider: str) -> str:
    return f"tokens_expired:{provider}"


TOKENS_ASSET_CODE = "TOKENS"  # token units, scale 0: what commitments in tokens hold


CASH_ACCOUNT_CODE = "cash:bank"
BREAKAGE_ACCOUNT_CODE = "expense:breakage"


def contract_create(
    *,
    book: Book,
    provider: str,
    name: str,
    currency: Asset,
    discount_bps: int = 0,
    tolerance_bps: int = 0,
    tolerance_minor: int = 0,
    actor: str,
) -> Contract:
    if not pricing_selectors.provider_known(provider=provider):
        raise UnknownProvider(
            f"no model of provider {provider!r} is in the price catalogue",
            details={"provider": provider},
        )
    name = name.strip()
    if not name or len(name) > NAME_LENGTH_MAX:
        raise InvalidContract(
            f"a contract needs a name of 1 to {NAME_LENGTH_MAX} characters",
            details={"name": name},
        )
    for field, value in (("discount_bps", discount_bps), ("tolerance_bps", tolerance_bps)):
        if type(value) is not int or not 0 <= value <= BPS_MAX:
            raise InvalidContract(
                f"{field} must be whole basis points from 0 to {BPS_MAX}", details={field: value}
            )
    if type(tolerance_minor) is not int or not 0 <= tolerance_minor <= AMOUNT_MAX:
        raise InvalidContract(
            "tolerance_minor must be a non-negative amount",
            details={"tolerance_minor": tolerance_minor},
        )
    try:
        with transaction.atomic():
            return Contract.objects.create(
                book=book,
                provider=provider,
                name=name,
                currency=currency,
                discount_bps=discount_bps,
                tolerance_bps=tolerance_bps,
                tolerance_minor=tolerance_minor,
                created_at=timezone.now(),
                created_by=actor,
            )
    except IntegrityError as exc:
        raise ContractConflict(
            f"{book.code} already has a contract {name!r} with {provider}",
            details={"provider": provider, "name": name},
        ) from exc


@dataclass(frozen=True, slots=True)
class Purchase:
    commitment: Commitment
    replayed: bool


def _clean_models(covered_models: Sequence[str]) -> list[str]:
    if isinstance(covered_models, str) or len(covered_models) > COVERED_MODELS_MAX:
        raise InvalidCommitment(
            f"covered_models is a list of at most {COVERED_MODELS_MAX} model names",
            details={"covered_models": "list"},
        )
    models = set()
    for model in covered_models:
        if not isinstance(model, str) or not model.strip() or len(model) > MODEL_LENGTH_MAX:
            raise InvalidCommitment(
                f"each covered model is a name of 1 to {MODEL_LENGTH_MAX} characters",
                details={"covered_models": model},
            )
        models.add(model.strip())
    return sorted(models)


def _validate(
    *, contract, currency, amount_minor, tokens, starts_at, expires_at, priority, funded_from
) -> None:
    if currency != contract.currency.code:
        raise CurrencyMismatch(
            f"contract {contract.pk} is in {contract.currency.code}, not {currency}",
            details={"contract_currency": contract.currency.code, "currency": currency},
        )
    if type(amount_minor) is not int or not 0 < amount_minor <= AMOUNT_MAX:
        raise InvalidAmount(
            "a commitment's amount must be positive", details={"amount_minor": amount_minor}
        )
    if tokens is not None and (type(tokens) is not int or not 0 < tokens <= AMOUNT_MAX):
        raise InvalidCommitment(
            "tokens is the whole number of tokens bought, more than zero",
            details={"tokens": tokens},
        )
    if starts_at.tzinfo is None or expires_at.tzinfo is None:
        raise InvalidCommitment("starts_at and expires_at need a time zone")
    if expires_at <= starts_at:
        raise InvalidCommitment(
            "a commitment must expire after it starts",
            details={"starts_at": starts_at.isoformat(), "expires_at": expires_at.isoformat()},
        )
    if type(priority) is not int or not PRIORITY_MIN <= priority <= PRIORITY_MAX:
        raise InvalidCommitment(
            f"priority is a whole number from {PRIORITY_MIN} to {PRIORITY_MAX}",
            details={"priority": priority},
        )
    if funded_from not in Commitment.FundedFrom.values:
        raise InvalidCommitment(
            f"funded_from is one of {', '.join(Commitment.FundedFrom.values)}",
            details={"funded_from": funded_from},
        )


def _same_purchase(commitment: Commitment, wanted: dict) -> bool:
    return all(getattr(commitment, field) == value for field, value in wanted.items())


def commitment_purchase(
    *,
    contract: Contract,
    amount_minor: int,
    currency: str,
    starts_at: datetime,
    expires_at: datetime,
    funded_from: str,
    idempotency_key: str,
    actor: str,
    covered_models: Sequence[str] = (),
    priority: int = 100,
    name: str = "",
    tokens: int | None = None,
) -> Purchase:
    """Buy capacity under a contract: the commitment's row, its capacity account and one
    ledger event, in one transaction. `amount_minor` is the price paid; with `tokens`
    the commitment is in tokens (it covers that many tokens of usage, and holds them in
    the ledger), without, in money. A retry with the same key and terms returns the
    first purchase; with other terms it is refused (idempotency_conflict)."""
    if not idempotency_key or len(idempotency_key) > IDEMPOTENCY_KEY_LENGTH_MAX:
        raise IdempotencyKeyRequired(
            f"buying a commitment needs an idempotency key of 1 to "
            f"{IDEMPOTENCY_KEY_LENGTH_MAX} characters"
        )
    _validate(
        contract=contract,
        currency=currency,
        amount_minor=amount_minor,
        tokens=tokens,
        starts_at=starts_at,
        expires_at=expires_at,
        priority=priority,
        funded_from=funded_from,
    )
    if len(name) > NAME_LENGTH_MAX:
        raise InvalidCommitment(f"name is at most {NAME_LENGTH_MAX} characters")
    wanted = {
        "contract_id": contract.pk,
        "name": name,
        "amount_minor": amount_minor,
        "tokens": tokens,
        "starts_at": starts_at,
        "expires_at": expires_at,
        "covered_models": _clean_models(covered_models),
        "priority": priority,
        "funded_from": funded_from,
    }
    existing = Commitment.objects.filter(idempotency_key=idempotency_key).first()
    if existing is None:
        try:
            return Purchase(_book_purchase(contract, wanted, idempotency_key, actor), False)
        except IntegrityError:
            # A concurrent request with the same key won the unique key: judge against it.
            existing = Commitment.objects.filter(idempotency_key=idempotency_key).first()
            if existing is None:
                raise
    if not _same_purchase(existing, wanted):
        raise IdempotencyConflict(
            "this idempotency key bought another commitment",
            details={"commitment": existing.pk},
        )
    return Purchase(existing, True)


def _book_purchase(contract: Contract, wanted: dict, idempotency_key: str, actor: str):
    provider, book_id, asset_id = contract.provider, contract.book_id, contract.currency_id
    with transaction.atomic():
        commitment = Commitment.objects.create(
            **wanted, idempotency_key=idempotency_key, created_at=timezone.now(), created_by=actor
        )
        # Made here, not on first use: its overdraft flag is what refuses an over-draw.
        capacity = ledger_services.account_create(
            book=contract.book,
            asset=contract.currency,
            code=capacity_account_code(provider, commitment.pk),
            type=Account.Type.ASSET,
            name=f"capacity bought from {provider} ({commitment.name or commitment.pk})",
            credits_must_not_exceed_debits=True,
        )
        if commitment.funded_from == Commitment.FundedFrom.CASH:
            funding_code, funding_type = CASH_ACCOUNT_CODE, Account.Type.ASSET
        else:
            funding_code, funding_type = payable_account_code(provider), Account.Type.LIABILITY
        funding = ledger_services.account_ensure(
            book_id=book_id, asset_id=asset_id, code=funding_code, type=funding_type
        )
        payload = {
            "book": book_id,
            "asset": asset_id,
            "commitment": commitment.pk,
            "capacity_account": capacity.pk,
            "funding_account": funding.pk,
            "amount": commitment.amount_minor,
        }
        if commitment.tokens is not None:
            commitment.token_account = _token_accounts(contract, commitment, payload)
        appended = ledger_services.event_record(
            event_type=PURCHASE_EVENT,
            payload=payload,
            idempotency_key=f"settlement:commitment:{commitment.pk}:purchased",
            actor=actor,
        )
        # Set once, in the transaction that made the row: what the row points at.
        commitment.account = capacity
        commitment.purchase_sequence = appended.sequence
        commitment.save(update_fields=["account", "token_account", "purchase_sequence"])
    return commitment


def _token_accounts(contract: Contract, commitment: Commitment, payload: dict) -> Account:
    """The TOKENS side of a purchase in tokens: its accounts, added to `payload`."""
    tokens = ledger_services.asset_create(
        code=TOKENS_ASSET_CODE, scale=0, description="tokens of upstream capacity"
    )
    account = ledger_services.account_create(
        book=contract.book,
        asset=tokens,
        code=token_account_code(contract.provider, commitment.pk),
        type=Account.Type.ASSET,
        name=f"tokens bought from {contract.provider} ({commitment.name or commitment.pk})",
        credits_must_not_exceed_debits=True,
    )
    source = ledger_services.account_ensure(
        book_id=contract.book_id,
        asset_id=tokens.pk,
        code=tokens_bought_account_code(contract.provider),
        type=Account.Type.EQUITY,
    )
    payload |= {
        "tokens": commitment.tokens,
        "token_asset": tokens.pk,
        "token_account": account.pk,
        "token_source_account": source.pk,
    }
    return account
