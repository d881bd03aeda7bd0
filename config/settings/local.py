"""The embedded default: one machine, embedded PostgreSQL, no Kafka, Celery eager."""

from config.settings.base import *  # noqa: F401,F403
from config.settings.env import env_bool

DEBUG = env_bool("DEBUG", True)
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", True)
# A local run may post low-balance alerts to a receiver on this machine.
WALLETS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env_bool("WALLETS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES", True)
