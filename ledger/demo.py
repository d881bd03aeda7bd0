"""Demo data for the embedded run: a distributor's book with a few customers' wallets,
top-ups, usage, a hold and a reversal, so the API and the admin have something to show.

Idempotent: fixed idempotency keys mean a second run books nothing twice.
"""

from ledger import services
from ledger.models import Account, Book
from ledger.posting_rules import PostingSpec

USD_SCALE = 9  # nano-dollars: a token can cost $0.000000028
NANOS_PER_USD = 10**USD_SCALE
DEMO_ACTOR = "system:demo"
CUSTOMERS = ["acme", "globex", "initech", "umbrella"]


def _transfer(book: Book, debit: Account, credit: Account, amount: int, memo: str, key: str):
    return services.adjustment_post(
        book=book,
        postings=[
            PostingSpec(debit.id, debit.asset_id, "D", amount),
            PostingSpec(credit.id, credit.asset_id, "C", amount),
        ],
        memo=memo,
        idempotency_key=f"demo:{key}",
        actor=DEMO_ACTOR,
    )


def seed_demo_ledger() -> dict[str, int]:
    usd = services.asset_create(code="USD", scale=USD_SCALE, description="US dollar, nanos")
    services.asset_create(code="CNY", scale=USD_SCALE, description="Chinese yuan, nano-yuan")
    book = services.book_create(code="distributor", name="Demo Distributor Ltd")
    services.book_create(code="reseller-apex", name="Apex AI Reseller", kind=Book.Kind.RESELLER)

    def account(code: str, type: str, **flags) -> Account:
        return services.account_create(book=book, asset=usd, code=code, type=type, **flags)

    cash = account("cash:stripe", "asset")
    revenue = account("revenue:usage", "revenue")
    cogs = account("cogs:openai", "expense")
    payable = account("payable:openai", "liability")
    for index, customer in enumerate(CUSTOMERS):
        # No overdraft flag: metered usage may take a prepaid wallet below zero (exposure).
        wallet = account(f"wallet:{customer}", "liability")
        top_up = (index + 1) * 50 * NANOS_PER_USD
        _transfer(book, cash, wallet, top_up, f"top-up by {customer}", f"topup:{customer}")
        usage_price = top_up // 7
        _transfer(book, wallet, revenue, usage_price, "metered usage", f"usage:{customer}")
        _transfer(book, cogs, payable, usage_price * 80 // 100, "upstream cost", f"cogs:{customer}")
    wallet = Account.objects.get(book=book, code="wallet:acme")
    hold = services.hold_create(
        debit_account=wallet,
        credit_account=revenue,
        amount=2 * NANOS_PER_USD,
        idempotency_key="demo:hold:acme",
        actor=DEMO_ACTOR,
    )
    services.hold_post(
        hold_id=hold.id,
        amount=NANOS_PER_USD + NANOS_PER_USD // 4,
        idempotency_key="demo:capture:acme",
        actor=DEMO_ACTOR,
    )
    mistake = _transfer(book, cash, revenue, 3 * NANOS_PER_USD, "mis-keyed fee", "mistake")
    services.entry_reverse(
        entry_id=mistake.entry_ids[0], idempotency_key="demo:reverse:mistake", actor=DEMO_ACTOR
    )
    return {"book": book.id, "accounts": Account.objects.filter(book=book).count()}
