"""Demo data for the embedded run: a distributor's book with a few customers' wallets,
top-ups, usage, a hold and a reversal, so the API and the admin have something to show.

Idempotent: fixed idempotency keys mean a second run books nothing twice. Registered
with config.demo (manage.py seed_demo runs every app's seeders); the last one names
every account the demo's books still have unnamed, whoever made it.
"""

from config.demo import demo_seeder
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


@demo_seeder(10)
def seed_demo_ledger() -> list[str]:
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
    return [f"ledger: book {book.code!r} with {Account.objects.filter(book=book).count()} accounts"]


# Account code prefix -> a readable name; the rest of the code names the party.
_NAMES = {
    "wallet": "Prepaid wallet of {}",
    "unbilled": "Unbilled usage of {}",
    "receivable": "Receivable from {}",
    "revenue": "Revenue: {}",
    "cogs": "Cost of usage: {}",
    "payable": "Payable to {}",
    "cash": "Cash at {}",
    "expense": "Expense: {}",
    "holds": "Holds: {}",
}


def account_name_for(code: str) -> str:
    prefix, _, rest = code.partition(":")
    party = rest.replace(":", " ").replace("-", " ").replace("_", " ").strip() or prefix
    template = _NAMES.get(prefix, prefix.replace("_", " ").capitalize() + ": {}")
    return template.format(party.title() if prefix in {"wallet", "unbilled"} else party)


@demo_seeder(90)
def name_demo_accounts() -> list[str]:
    """Accounts are made on first use by whichever app posts to them, with no name."""
    unnamed = list(Account.objects.filter(name="").only("id", "code"))
    for account in unnamed:
        account.name = account_name_for(account.code)
    Account.objects.bulk_update(unnamed, ["name"], batch_size=500)
    return [f"ledger: {len(unnamed)} accounts named"] if unnamed else []
