"""Tells the OpenAPI schema how gateways authenticate (loaded in WalletsConfig.ready)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class GatewayKeyScheme(OpenApiAuthenticationExtension):
    target_class = "wallets.gateways.keys.GatewayKeyAuthentication"
    name = "gatewayKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A gateway key, `gw_<prefix>_<secret>`",
        }
