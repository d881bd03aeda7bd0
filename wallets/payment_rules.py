"""Wallets' event types in the ledger. A top-up's events carry their entries explicitly
(built by wallets.topups from the top-up's own row), so their rule is the same pure parse
as a transfer's; the type names what happened in the log."""

from ledger.posting_rules import posting_rule, transfer
from wallets.topups import TOPUP_PAID_EVENT, TOPUP_REVERSAL_EVENT

posting_rule(TOPUP_PAID_EVENT)(transfer)
posting_rule(TOPUP_REVERSAL_EVENT)(transfer)
