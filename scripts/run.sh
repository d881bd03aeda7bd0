#!/usr/bin/env bash
# The embedded default: embedded PostgreSQL, no Kafka, Celery eager, demo data.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export DJANGO_SETTINGS_MODULE=config.settings.local
HOST_PORT="${HOST_PORT:-127.0.0.1:8000}"

$PY -m devservices up postgres
$PY manage.py migrate --no-input -v0
$PY manage.py seed_demo
cat <<MSG

  Token ledger is starting on http://${HOST_PORT}
    API docs (OpenAPI):  http://${HOST_PORT}/api/docs/
    OpenAPI schema:      http://${HOST_PORT}/api/schema/
    Admin:               http://${HOST_PORT}/admin/   (admin / admin)
    Health:              http://${HOST_PORT}/healthz
  Stop with Ctrl-C; PostgreSQL keeps running until: .venv/bin/python -m devservices down

MSG
exec $PY manage.py runserver "$HOST_PORT"
