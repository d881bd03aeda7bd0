#!/usr/bin/env bash
# The embedded default: embedded PostgreSQL, no Kafka, Celery eager, demo data, a
# simulated gateway sending usage so balances and margins move, and stripe-mock as Stripe
# so top-ups run end to end (the rest runs without it).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export DJANGO_SETTINGS_MODULE=config.settings.local
HOST_PORT="${HOST_PORT:-127.0.0.1:8000}"
SIMULATE="${SIMULATE:-1}"

$PY -m devservices system-packages  # Pango and the fonts for invoice PDFs
$PY -m devservices up postgres

# Stripe: stripe-mock (installed with `go install` when missing), unless a key is given
# (STRIPE_API_KEY, with STRIPE_API_BASE=https://api.stripe.com for Stripe's test mode).
# When stripe-mock cannot be started the rest of the product runs without Stripe.
stripe_ready=1
if [ -n "${STRIPE_API_KEY:-}" ]; then
    stripe_note="Stripe: ${STRIPE_API_BASE:-http://127.0.0.1:12111} with your STRIPE_API_KEY."
elif $PY -m devservices up stripe; then
    export STRIPE_API_KEY=sk_test_123  # stripe-mock takes any sk_test_ key
    stripe_note="Stripe: stripe-mock on http://127.0.0.1:12111 (nothing real is charged)."
else
    stripe_ready=0
    stripe_note="Stripe: NOT AVAILABLE, stripe-mock could not be started (see above): top-ups
  and card setups answer 503 stripe_not_configured; everything else runs."
    echo "warning: stripe-mock could not be started; going on without Stripe" >&2
fi
if [ "$stripe_ready" = "1" ]; then
    stripe_note="${stripe_note}
  Top up acme's wallet (a Checkout session), then pay it as Stripe's webhook would:
    curl -s -u admin:admin -H 'Content-Type: application/json' -d '{\"amount\": \"10\"}' http://${HOST_PORT}/api/wallets/customers/acme/topups/
    .venv/bin/python manage.py stripe_demo_pay <topup_id from the answer> --url http://${HOST_PORT}"
fi
$PY manage.py migrate --no-input -v0
$PY manage.py seed_demo --url "http://${HOST_PORT}"
cat <<MSG

  Token ledger is starting on http://${HOST_PORT}
    API docs (OpenAPI):  http://${HOST_PORT}/api/docs/
    OpenAPI schema:      http://${HOST_PORT}/api/schema/
    Admin:               http://${HOST_PORT}/admin/   (admin / admin)
    Customer portal:     http://${HOST_PORT}/portal/  (acme / acme-portal, soylent / soylent-portal)
    Health:              http://${HOST_PORT}/healthz
    Margin by model:     http://${HOST_PORT}/v1/usage/summary?group_by=model
  A simulated gateway posts usage to /v1/usage (SIMULATE=0 turns it off).
  ${stripe_note}
  Stop with Ctrl-C; PostgreSQL and stripe-mock keep running until:
    .venv/bin/python -m devservices down

MSG
simulator=""
if [ "$SIMULATE" = "1" ]; then
    $PY manage.py simulate_gateway --url "http://${HOST_PORT}" &
    simulator=$!
fi
trap '[ -n "$simulator" ] && kill "$simulator" 2>/dev/null || true' EXIT
$PY manage.py runserver --noreload "$HOST_PORT"
