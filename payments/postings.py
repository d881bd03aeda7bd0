"""Payments' posting rules: the ledger events of Stripe top-ups, loaded in
PaymentsConfig.ready so the ledger knows them before anything appends or replays.

Pure: each rule reads only its event's payload. The event types keep their `wallets.`
prefix: they are stored in the hash-chained log (data, not names of modules).
"""

from ledger.posting_rules import posting_rule, transfer

TOPUP_PAID_EVENT = "wallets.topup.paid"  # cash:stripe Dr / wallet Cr / revenue:fees Cr
TOPUP_REVERSAL_EVENT = "wallets.topup.reversal"  # its mirror, for refunds and disputes
# A top-up's events carry their entries explicitly (built by payments.topups.services
# from the top-up's own row), so their rule is a transfer's pure parse; the type names
# what happened in the log.
TOPUP_DISPUTE_FEE_EVENT = "wallets.topup.dispute_fee"  # expense:stripe_fees Dr / cash:stripe Cr
TOPUP_PROCESSING_FEE_EVENT = "wallets.topup.processing_fee"  # the same, for the charge's fee
posting_rule(TOPUP_PAID_EVENT)(transfer)
posting_rule(TOPUP_REVERSAL_EVENT)(transfer)
posting_rule(TOPUP_DISPUTE_FEE_EVENT)(transfer)
posting_rule(TOPUP_PROCESSING_FEE_EVENT)(transfer)
