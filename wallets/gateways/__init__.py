"""Gateways: their keys (keys.py: the DRF authentication every gateway endpoint uses),
the authorization API mounted at /v1/ (urls.py), and its OpenAPI security scheme."""
