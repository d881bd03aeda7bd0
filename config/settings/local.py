"""The embedded default: one machine, embedded PostgreSQL, no Kafka, Celery eager.

Stripe is stripe-mock (`python -m devservices up stripe`), which scripts/run.sh starts and
then sets STRIPE_API_KEY to its test key; without a key (stripe-mock could not be started)
top-ups and card setups answer 503 stripe_not_configured and the rest runs. The webhook
secret is the demo's own, so `manage.py stripe_demo_pay` can sign what Stripe would send.
"""

from config.settings.base import *  # noqa: F401,F403
from config.settings.env import env_bool, env_bool_alias, env_str

DEBUG = env_bool("DEBUG", True)
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", True)
STRIPE_API_BASE = env_str("STRIPE_API_BASE", "http://127.0.0.1:12111")  # stripe-mock
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET", "whsec_local_demo")
# A local run may post webhooks (low-balance alerts among them) to a receiver on this machine.
WEBHOOK_ALLOW_PRIVATE = env_bool_alias(
    "WEBHOOK_ALLOW_PRIVATE", old="WALLETS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES", default=True
)
# One machine: /metrics answers without a token unless METRICS_TOKEN is set.
METRICS_OPEN = env_bool("METRICS_OPEN", True)
