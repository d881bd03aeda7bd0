"""The event types sellers can receive: the public contract, as Stripe lists its own.

An app that emits a new type adds it here first; enqueueing or subscribing to a type not
listed is refused (unknown_webhook_event_type), so a typo fails loudly, not silently.
"""

EVENT_TYPES: dict[str, str] = {
    "invoice.finalized": "an invoice was finalized and can be paid",
    "invoice.overdue": "an invoice is past its due date",
    "customer.reminder": "a dunning reminder was sent to a customer",
    # payments.alerts.low_balance; its customer's alert URL receives it too (audience).
    "wallet.balance_low": "a prepaid customer's available balance fell below its alert threshold",
}
