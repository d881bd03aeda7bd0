"""Invoicing over HTTP, under /api/invoicing/ (invoicing/urls.py; the README's "Invoicing
API" lists every endpoint). Views are thin: validate, call one selector or service,
serialise. Who sees what is common.py: finance (the "finance" group's invoicing
permissions) sees and acts on every seller book; a customer's members (wallets.access)
see their own issued invoices, credit notes and receipts only, and anything else they
name answers 404, exactly like what does not exist.
"""
