#!/usr/bin/env bash
# The embedded default: embedded PostgreSQL, no Kafka, Celery eager, demo data, and a
# simulated gateway sending usage so balances and margins move.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export DJANGO_SETTINGS_MODULE=config.settings.local
HOST_PORT="${HOST_PORT:-127.0.0.1:8000}"
SIMULATE="${SIMULATE:-1}"

$PY -m devservices up postgres
$PY manage.py migrate --no-input -v0
$PY manage.py seed_demo --url "http://${HOST_PORT}"
cat <<MSG

  Token ledger is starting on http://${HOST_PORT}
    API docs (OpenAPI):  http://${HOST_PORT}/api/docs/
    OpenAPI schema:      http://${HOST_PORT}/api/schema/
    Admin:               http://${HOST_PORT}/admin/   (admin / admin)
    Health:              http://${HOST_PORT}/healthz
    Margin by model:     http://${HOST_PORT}/v1/usage/summary?group_by=model
  A simulated gateway posts usage to /v1/usage (SIMULATE=0 turns it off).
  Stop with Ctrl-C; PostgreSQL keeps running until: .venv/bin/python -m devservices down

MSG
simulator=""
if [ "$SIMULATE" = "1" ]; then
    $PY manage.py simulate_gateway --url "http://${HOST_PORT}" &
    simulator=$!
fi
trap '[ -n "$simulator" ] && kill "$simulator" 2>/dev/null || true' EXIT
$PY manage.py runserver --noreload "$HOST_PORT"
