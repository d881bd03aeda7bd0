"""Talking to Stripe: Checkout sessions and the Stripe Customer (checkout), its signed
webhook (webhooks, urls), and its processing fees (fees)."""
