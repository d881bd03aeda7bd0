"""Production: external PostgreSQL, Kafka and Redis; secrets only from the environment."""

from django.core.exceptions import ImproperlyConfigured

from config.settings.base import *  # noqa: F401,F403
from config.settings.base import SECRET_KEY
from config.settings.env import env_bool, env_int

DEBUG = False

if SECRET_KEY.startswith("insecure-") or len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("SECRET_KEY must be set to a long random value in production")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Prometheus scrapes gunicorn directly, inside the network, over plain HTTP: /metrics is
# not redirected to HTTPS. METRICS_TOKEN protects it (without one it answers 403).
SECURE_REDIRECT_EXEMPT = [r"^metrics$"]

# Decide concurrent gateway authorizations together (wallets.batching): production runs a
# threaded server (gunicorn gthread). Off in the base settings because tests share one
# database connection per test, which the batcher's worker thread cannot.
WALLETS_AUTHORIZATION_BATCHING = env_bool("WALLETS_AUTHORIZATION_BATCHING", True)
