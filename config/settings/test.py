"""Tests: the same embedded PostgreSQL; Kafka, Redis and stripe-mock started by the run."""

from config.settings.base import *  # noqa: F401,F403
from config.settings.env import env_bool, env_bool_alias, env_str

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast test users
KAFKA_BOOTSTRAP_SERVERS = env_str("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092")
STRIPE_API_KEY = env_str("STRIPE_API_KEY", "sk_test_123")
STRIPE_API_BASE = env_str("STRIPE_API_BASE", "http://127.0.0.1:12111")
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET", "whsec_test_secret")

# Test runs flush tables between transactional tests; production keeps TRUNCATE refused
# on journal tables (see ledger/migrations/sql/0002_ledger_rules.sql).
DATABASES["default"]["OPTIONS"]["options"] = "-c ledger.allow_truncate=on"  # noqa: F405

# Parallel runs on one machine (a developer's and a helper's) must not share a test
# database: set TEST_DATABASE_NAME to keep them apart.
DATABASES["default"]["TEST"] = {"NAME": env_str("TEST_DATABASE_NAME", "test_tokenledger")}  # noqa: F405

# Tests post webhooks (low-balance alerts among them) to real HTTP servers on 127.0.0.1.
WEBHOOK_ALLOW_PRIVATE = env_bool_alias(
    "WEBHOOK_ALLOW_PRIVATE", old="WALLETS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES", default=True
)

# Tests scrape /metrics without a token unless they set METRICS_TOKEN.
METRICS_OPEN = env_bool("METRICS_OPEN", True)
