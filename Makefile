# Two commands set up everything on a fresh machine:
#   make run   - the product on its embedded defaults, with demo data, on http://127.0.0.1:8000
#   make test  - every service the tests need, ruff, pytest; stops what it started
.PHONY: run test install services-up services-down bench-ledger bench-metering bench-wallets bench-invoicing bench-credit clean

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# System packages (Pango for WeasyPrint, the Noto fonts, poppler-utils, gettext): checked on
# every install, one dpkg-query when all are there; apt-get only for what is missing.
install: $(STAMP)
	$(PY) -m devservices system-packages

# Reinstall only when the dependencies change; a warm run skips pip entirely.
$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (Python 3.11 is required)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: install
	./scripts/run.sh

test: install
	./scripts/test.sh

services-up: install
	$(PY) -m devservices up

services-down:
	$(PY) -m devservices down

bench-ledger: install
	$(PY) -m devservices up postgres
	$(PY) manage.py migrate --noinput -v0
	$(PY) benchmarks/ledger_bench.py

bench-metering: install
	$(PY) -m devservices up postgres kafka
	$(PY) manage.py migrate --noinput -v0
	$(PY) benchmarks/metering_bench.py

bench-wallets: install
	$(PY) -m devservices up postgres
	$(PY) benchmarks/wallets_bench.py

bench-invoicing: install
	$(PY) -m devservices up postgres
	$(PY) benchmarks/invoicing_bench.py

bench-credit: install
	$(PY) -m devservices up postgres
	$(PY) benchmarks/credit_bench.py

clean: services-down
	rm -rf var $(VENV)
