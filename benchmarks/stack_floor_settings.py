"""Settings for the wallets bench's servers: the product's settings, plus two endpoints
that measure the floor of the HTTP stack itself (see benchmarks/stack_floor_urls.py)."""

from config.settings.local import *  # noqa: F403 - the product's settings, unchanged

ROOT_URLCONF = "benchmarks.stack_floor_urls"
