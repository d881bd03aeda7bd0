"""Stripe top-ups: the arithmetic of amounts and fees (amounts, pure) and the top-up's
life, from Checkout to booking, refunds and disputes (services)."""
