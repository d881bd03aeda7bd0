"""Watching prepaid balances: the one-trigger-per-crossing rule (thresholds), the scan
that applies it (balance_watch, for auto top-up and alerts), and low-balance alerts,
signed webhooks to the customer (low_balance)."""
