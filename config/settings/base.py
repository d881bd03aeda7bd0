"""Settings shared by every environment (HackSoft styleguide layout).

local.py, test.py and production.py import this module and change only what differs.
Every value below can be overridden by an environment variable of the same name.
"""

from pathlib import Path

import dj_database_url
from celery.schedules import crontab

from config.settings.env import env_bool, env_bool_alias, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))

SECRET_KEY = env_str("SECRET_KEY", "insecure-development-key-change-me")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI assets served locally, no CDN
    "ledger",
    "wallets",
    "payments",
    "invoicing",
    "credit",
    "settlement",
    "pricing",
    "metering",
    "webhooks",
    "portal",  # the customer portal (server-rendered pages under /portal/)
]

MIDDLEWARE = [
    # Outermost: every error under /api/ and /v1/ is JSON (config.errors has the mapping).
    "config.middleware.ApiErrorMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.RefuseNulMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The portal's pages in the visitor's language; the API and the admin stay English.
    "portal.middleware.PortalLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "config.middleware.BrowserMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# The embedded PostgreSQL that `python -m devservices up postgres` starts is the default.
DATABASE_URL = env_str("DATABASE_URL", "postgres://postgres@127.0.0.1:15432/tokenledger")
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60)
    )
}
DATABASES["default"]["OPTIONS"] = {
    "connect_timeout": env_int("DATABASE_CONNECT_TIMEOUT", 5),
    # psycopg prepares a statement from its fifth run on a connection. Only server-side
    # binding cursors prepare, and the only one is the ledger's append (ledger.journal):
    # Django's own cursors bind on the client. 0 turns preparation off (for a pooler in
    # transaction mode that cannot keep prepared statements).
    "prepare_threshold": env_int("DATABASE_PREPARE_THRESHOLD", 5) or None,
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
# The portal's languages (portal/locale/); the language switcher offers these.
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
# The finance dashboard's catalogue (portal/finance is a sub-package, not an app).
LOCALE_PATHS = [BASE_DIR / "portal" / "finance" / "locale"]
# Customers sign in to the portal; the admin keeps its own sign-in page.
LOGIN_URL = "portal:login"
LOGIN_REDIRECT_URL = "portal:home"
LOGOUT_REDIRECT_URL = "portal:login"
# Password-reset e-mails: the console in development (tests use Django's locmem outbox).
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "no-reply@localhost")
# The portal's dashboard warns below this available balance (major units of the customer's
# currency) unless the customer set a low-balance alert or auto top-up threshold.
PORTAL_LOW_BALANCE_WARNING = env_str("PORTAL_LOW_BALANCE_WARNING", "10")
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
# Uploaded files (billing profiles' logos): local files under var/, never remote URLs.
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "config.openapi.ErrorsAutoSchema",  # documents the errors
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.BasicAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # DRF's defaults, with a JSON parser that refuses text that is not valid Unicode.
    "DEFAULT_PARSER_CLASSES": [
        "config.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "config.pagination.BoundedLimitOffsetPagination",
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "config.errors.api_exception_handler",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Token ledger API",
    "DESCRIPTION": "Metering, ledger, wallets and billing for AI token distribution.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Choice sets whose field names other components share.
    "ENUM_NAME_OVERRIDES": {
        "WebhookDeliveryStateEnum": "webhooks.models.WebhookDelivery.State",
        "InvoiceStateEnum": "invoicing.models.Invoice.State",
        "InvoiceLineKindEnum": "invoicing.models.InvoiceLine.Kind",
        "TaxRateKindEnum": "invoicing.models.TaxRate.Kind",
        "CreditNoteReasonEnum": "invoicing.models.CreditNote.Reason",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.openapi.nullable_instead_of_null_type",
    ],
}

# Kafka carries usage events; empty means "no Kafka" (embedded default feeds directly).
KAFKA_BOOTSTRAP_SERVERS = env_str("KAFKA_BOOTSTRAP_SERVERS", "")
# The topic /v1/usage produces to and `metering_consume` reads by default (one name, so
# the two cannot drift apart; a test points both at a topic of its own).
METERING_USAGE_TOPIC = env_str("METERING_USAGE_TOPIC", "usage.events")

# Celery on Redis. CELERY_TASK_ALWAYS_EAGER runs tasks inline (embedded default).
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:16379/0")
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", REDIS_URL)
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 300)
CELERY_BROKER_CONNECTION_TIMEOUT = env_int("CELERY_BROKER_CONNECTION_TIMEOUT", 5)

# Stripe: the API key and base point at stripe-mock in tests.
STRIPE_API_KEY = env_str("STRIPE_API_KEY", "")
STRIPE_API_BASE = env_str("STRIPE_API_BASE", "https://api.stripe.com")
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET", "")

# /healthz probes each dependency with this bound, so a hung one cannot hang the probe.
HEALTHZ_TIMEOUT_S = env_int("HEALTHZ_TIMEOUT_S", 2)

# GET /metrics (config/metrics.py): with a token, a scrape sends `Authorization: Bearer
# <METRICS_TOKEN>`; without one it is answered only where METRICS_OPEN is on (local, test).
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
METRICS_OPEN = env_bool("METRICS_OPEN", False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # A refused request (403, 404) is one line in the log, not a traceback.
    "filters": {"client_errors_in_one_line": {"()": "config.errors.ClientErrorsInOneLine"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "kafka": {"level": "WARNING"},
        "django.request": {"filters": ["client_errors_in_one_line"]},
    },
}

# The upstream price catalogue `make run` imports for its demo (LiteLLM's price map).
PRICE_CATALOGUE_PATH = env_str(
    "PRICE_CATALOGUE_PATH", str(BASE_DIR.parent / "shared" / "data" / "model_prices_litellm.json")
)

# Every minute: release holds past their expiry (all of them, via ledger.holds_expire)
# and mark the wallets' authorizations whose hold expired; attribute wallet movements to
# credit lots; book the breakage of expired lots (wallets/lots/services.py).
CELERY_BEAT_SCHEDULE = {
    "wallets-expire-authorizations": {"task": "wallets.expire_authorizations", "schedule": 60.0},
    "wallets-allocate-lots": {"task": "wallets.allocate_lots", "schedule": 60.0},
    "wallets-expire-lots": {"task": "wallets.expire_lots", "schedule": 60.0},
    # Every minute, compare prepaid wallets that have auto top-up or a low-balance alert
    # with their thresholds, and charge or alert (payments/alerts/balance_watch.py).
    "payments-watch-balances": {"task": "payments.watch_balances", "schedule": 60.0},
    # Stripe fees of paid top-ups still unknown 30 min after payment (payments/stripe/fees.py).
    "payments-sweep-processing-fees": {
        "task": "payments.sweep_processing_fees",
        "schedule": 600.0,
    },
    # Outbound webhooks due (retries, and first attempts whose enqueue was lost).
    "webhooks-deliver-due": {"task": "webhooks.deliver_due", "schedule": 60.0},
    # Invoicing (invoicing/tasks.py): on the 1st, close the month before and draft its
    # invoices; every day, finalize drafts past the grace period and issue receipts.
    "invoicing-close-previous-month": {
        "task": "invoicing.close_previous_month",
        "schedule": crontab(minute=15, hour=0, day_of_month=1),
    },
    "invoicing-finalize-due": {
        "task": "invoicing.finalize_due",
        "schedule": crontab(minute=30, hour=1),
    },
    "invoicing-issue-receipts": {"task": "invoicing.issue_receipts", "schedule": 600.0},
    # Every hour: invoices past their due date become overdue once (invoice.overdue).
    "invoicing-mark-overdue": {"task": "invoicing.mark_overdue", "schedule": 3600.0},
    # Every minute: draw upstream commitments down by the usage batches booked since the
    # last run, and book the breakage of expired ones (settlement/commitments/drawdown.py).
    "settlement-draw-down-commitments": {
        "task": "settlement.draw_down_commitments",
        "schedule": 60.0,
    },
    "settlement-expire-commitments": {"task": "settlement.expire_commitments", "schedule": 60.0},
    # Credit (credit/tasks.py): every hour, walk overdue customers down their book's dunning
    # ladder; every day, book the allowance at the last month end (once per period).
    "credit-dunning-evaluate": {"task": "credit.dunning_evaluate", "schedule": 3600.0},
    "credit-allowance-period-end": {
        "task": "credit.allowance_period_end",
        "schedule": crontab(minute=45, hour=1),
    },
}
# Drafts are finalized automatically this many days after they were made (finance may
# review, regenerate or finalize them by hand before).
INVOICE_GRACE_DAYS = env_int("INVOICE_GRACE_DAYS", 3)

# Settlement (settlement/). Usage batches one draw-down run draws (one transaction), and
# how long after a commitment's expiry its remainder is written off: usage that occurred
# before the expiry but is metered within the grace still draws from it.
SETTLEMENT_DRAWDOWN_BATCHES_PER_RUN = env_int("SETTLEMENT_DRAWDOWN_BATCHES_PER_RUN", 500)
SETTLEMENT_BREAKAGE_GRACE_HOURS = env_int("SETTLEMENT_BREAKAGE_GRACE_HOURS", 24)

# Authorizations for gateways (wallets/). Batching decides concurrent requests of one
# process together in one transaction (see wallets/batching.py).
WALLETS_AUTHORIZATION_BATCHING = env_bool("WALLETS_AUTHORIZATION_BATCHING", False)
WALLETS_AUTHORIZATION_TTL_S = env_int("WALLETS_AUTHORIZATION_TTL_S", 900)
# Credit customers without a limit of their own (credit.CreditLimit) may hold and accrue
# up to this, in major units of their currency (credit/). The environment variable
# WALLETS_CREDIT_LIMIT_DEFAULT, its name before credit limits left wallets, still works.
CREDIT_LIMIT_DEFAULT = env_str(
    "CREDIT_LIMIT_DEFAULT", env_str("WALLETS_CREDIT_LIMIT_DEFAULT", "1000")
)
# Dunning's card retry (credit/dunning/cards.py): a soft decline is tried again after
# this many seconds, doubled at each try (the step bounds the tries).
CREDIT_DUNNING_CARD_RETRY_S = env_int("CREDIT_DUNNING_CARD_RETRY_S", 3600)

# Payments (payments/): Stripe top-ups, auto top-up, low-balance alerts. Their settings
# keep the WALLETS_ names they had before payments left wallets, so that deployments'
# environment variables keep working.
# Top-ups (payments/topups/services.py): amounts are decimal strings in major units of the
# customer's currency; the platform fee is a percentage of the amount, added on top and
# rounded half up to Stripe's minor unit (the cent). The wallet is credited the amount.
WALLETS_TOPUP_MIN = env_str("WALLETS_TOPUP_MIN", "5")
WALLETS_TOPUP_MAX = env_str("WALLETS_TOPUP_MAX", "10000")
WALLETS_PLATFORM_FEE_PERCENT = env_str("WALLETS_PLATFORM_FEE_PERCENT", "5.5")
# Where Checkout sends the customer back (the portal of `make run`, which serves
# 127.0.0.1:8000: the session cookie is per host); Stripe fills in {CHECKOUT_SESSION_ID}.
WALLETS_TOPUP_SUCCESS_URL = env_str(
    "WALLETS_TOPUP_SUCCESS_URL",
    "http://127.0.0.1:8000/portal/topups/done?session_id={CHECKOUT_SESSION_ID}",
)
WALLETS_TOPUP_CANCEL_URL = env_str(
    "WALLETS_TOPUP_CANCEL_URL", "http://127.0.0.1:8000/portal/topups/cancelled"
)
# Where Checkout in setup mode (saving a card for auto top-up,
# payments/auto_topup/saved_cards.py) sends the customer back.
WALLETS_CARD_SETUP_SUCCESS_URL = env_str(
    "WALLETS_CARD_SETUP_SUCCESS_URL",
    "http://127.0.0.1:8000/portal/auto-topup/card-saved?session_id={CHECKOUT_SESSION_ID}",
)
WALLETS_CARD_SETUP_CANCEL_URL = env_str(
    "WALLETS_CARD_SETUP_CANCEL_URL", "http://127.0.0.1:8000/portal/auto-topup/cancelled"
)
# Webhook signatures older than this are refused (replay protection), as Stripe advises.
STRIPE_WEBHOOK_TOLERANCE_S = env_int("STRIPE_WEBHOOK_TOLERANCE_S", 300)
# Auto top-up: a trigger's charge is tried at most this often, the n-th retry after
# BACKOFF * 2**(n-1) seconds; then the attempt gives up (recorded).
WALLETS_AUTO_TOPUP_TRIES_MAX = env_int("WALLETS_AUTO_TOPUP_TRIES_MAX", 3)
WALLETS_AUTO_TOPUP_RETRY_BACKOFF_S = env_int("WALLETS_AUTO_TOPUP_RETRY_BACKOFF_S", 60)
# Credit lots close this many seconds after their expires_at; usage booked meanwhile still
# consumes them (wallets/lots/services.py). 0: consumption booked after the breakage never does.
WALLETS_LOT_EXPIRY_GRACE_S = env_int("WALLETS_LOT_EXPIRY_GRACE_S", 0)

# Outbound webhooks to sellers (webhooks/): each POST's socket operations are bounded by
# WEBHOOK_TIMEOUT_S (seconds, may be fractional); a delivery fails after
# WEBHOOK_MAX_ATTEMPTS attempts (1 min, 5 min, 30 min, 2 h, 8 h, 24 h apart, then 24 h).
# Endpoints must resolve to public addresses unless WEBHOOK_ALLOW_PRIVATE (local and test
# settings allow loopback and private ones; production must not).
WEBHOOK_TIMEOUT_S = env_float("WEBHOOK_TIMEOUT_S", 5.0)
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 8)
# Low-balance alerts are webhooks too (payments.alerts.low_balance): the one policy. The
# old name, WALLETS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES, is read when WEBHOOK_ALLOW_PRIVATE is
# not set, for one release (config.settings.env.env_bool_alias warns that it is old).
WEBHOOK_ALLOW_PRIVATE = env_bool_alias(
    "WEBHOOK_ALLOW_PRIVATE", old="WALLETS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES", default=False
)
