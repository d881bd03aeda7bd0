"""Gateway keys: `gw_<prefix>_<secret>`, only a hash of the secret kept. Gateways
authenticate with one (Bearer) to report usage (metering's POST /v1/usage) and to ask
for authorizations (wallets' /v1/authorizations)."""

import hashlib
import hmac
import secrets

from django.conf import settings
from django.utils import timezone
from rest_framework import authentication, exceptions

from config.ttl_cache import TtlCache
from wallets.models import GatewayKey

KEY_PREFIX = "gw_"
# Every gateway request authenticates: a verified key is remembered per process for this
# long (setting GATEWAY_KEY_CACHE_TTL_S), so a revocation takes effect at once in the
# process that revoked it and within this many seconds in the others.
CACHE_TTL_S_DEFAULT = 5.0
CACHE_SIZE_MAX = 10_000


verified_keys = TtlCache(  # prefix -> GatewayKey
    ttl_s=lambda: getattr(settings, "GATEWAY_KEY_CACHE_TTL_S", CACHE_TTL_S_DEFAULT),
    size_max=CACHE_SIZE_MAX,
)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def gateway_key_create(
    *,
    name: str,
    source: str,
    actor: str,
    litellm_customer_from: str = GatewayKey.LiteLLMCustomerField.TEAM_ID,
) -> tuple[GatewayKey, str]:
    """Create a key; the full key is returned once and never stored.

    `litellm_customer_from`: which StandardLoggingPayload field names the customer in
    what this gateway sends to POST /v1/usage/litellm (a GatewayKey.LiteLLMCustomerField).
    """
    if litellm_customer_from not in GatewayKey.LiteLLMCustomerField.values:
        raise ValueError(
            "litellm_customer_from: one of " + ", ".join(GatewayKey.LiteLLMCustomerField.values)
        )
    prefix, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    key = GatewayKey.objects.create(
        name=name,
        source=source,
        prefix=prefix,
        secret_hash=hash_secret(secret),
        litellm_customer_from=litellm_customer_from,
    )
    return key, f"{KEY_PREFIX}{prefix}_{secret}"


def gateway_key_settings_changed(*, key: GatewayKey) -> None:
    """A key's settings were edited (the admin): this process stops serving the cached
    copy at once; the others within the cache's TTL, as for a revocation."""
    verified_keys.forget(key.prefix)


def gateway_key_revoke(*, key: GatewayKey, actor: str) -> None:
    GatewayKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    verified_keys.forget(key.prefix)


def gateway_key_check(raw: str) -> GatewayKey | None:
    if not raw.startswith(KEY_PREFIX) or raw.count("_") < 2:
        return None
    prefix, _, secret = raw[len(KEY_PREFIX) :].partition("_")
    secret_hash = hash_secret(secret)
    cached = verified_keys.get(prefix)
    if cached is not None and hmac.compare_digest(cached.secret_hash, secret_hash):
        return cached
    key = GatewayKey.objects.filter(prefix=prefix, revoked_at__isnull=True).first()
    if key is None or not hmac.compare_digest(key.secret_hash, secret_hash):
        return None
    verified_keys.put(prefix, key)
    return key


class GatewayPrincipal:
    """The authenticated gateway (request.user for the ingestion API)."""

    is_authenticated = True

    def __init__(self, key: GatewayKey) -> None:
        self.key = key


class GatewayKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer gw_…`."""

    def authenticate(self, request):
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.startswith(KEY_PREFIX):
            return None
        key = gateway_key_check(token.strip())
        if key is None:
            raise exceptions.AuthenticationFailed("unknown or revoked gateway key")
        return GatewayPrincipal(key), key

    def authenticate_header(self, request) -> str:
        return "Bearer"
