"""Invoices, credit notes and receipts as HTML and PDF (see model.py and render.py)."""
