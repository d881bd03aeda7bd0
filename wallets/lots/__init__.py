"""Credit lots: which credit paid for what (rules in allocation.py, writes in
services.py, the HTTP API in api.py)."""
