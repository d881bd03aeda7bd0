#!/usr/bin/env bash
# Start every service the tests need, run ruff and pytest, and stop what this run
# started, also on failure or interrupt. Exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
SERVICES=(postgres kafka redis stripe)

# Only stop what this run started: a developer's already-running services stay up.
started=()
stop_started() {
    if ((${#started[@]})); then
        echo "--- stopping ${started[*]}"
        $PY -m devservices down "${started[@]}"
    fi
}
trap stop_started EXIT
trap 'exit 130' INT TERM

for service in "${SERVICES[@]}"; do
    if ! $PY -m devservices status | grep -q "^${service}: running"; then
        started+=("$service")
    fi
done

echo "--- system packages"
$PY -m devservices system-packages || exit 1

echo "--- services"
$PY -m devservices up "${SERVICES[@]}" || exit 1
eval "$($PY -m devservices env)"
export DJANGO_SETTINGS_MODULE=config.settings.test

echo "--- ruff"
$PY -m ruff check . || exit 1

echo "--- pytest"
$PY -m pytest "$@"
