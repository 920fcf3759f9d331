# fcmdash: GNU make. A fresh clone needs only python3 >= 3.11; everything else goes into .venv.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
PYTEST_ARGS ?=

.PHONY: help .venv run test lint bench clean test-production collectstatic

help:
	@echo "make run    migrate, print demo logins, serve http://127.0.0.1:$${PORT:-8000} (simulated PBX"
	@echo "            unless FCMDASH_AMI_URL=ami://user:secret@host:7777 is set)"
	@echo "make test   run the test suite (extra pytest options: PYTEST_ARGS=...)"
	@echo "make test-production  only tests/production (PostgreSQL + Redis + amiworker + 2 Daphnes)"
	@echo "make collectstatic    collect static files into \$$FCMDASH_VAR_DIR/static (production)"
	@echo "make lint   ruff check and ruff format --check"
	@echo "make bench  run the benchmarks in bench/"
	@echo "make clean  remove .venv, caches and var/static (keeps var/: database and keys)"

# The venv's interpreter stands for the venv: made once, removed again if making it failed.
$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "fcmdash needs Python >= 3.11; $(PYTHON) is older (set PYTHON=...)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
		echo "'$(PYTHON) -m venv' failed; on Debian/Ubuntu: apt install python3-venv" >&2; exit 1; }

# Stamps: an install runs again when its requirements file is newer than its stamp.
$(VENV)/.installed-run: requirements.txt | $(PY)
	$(PIP) install -r requirements.txt
	@touch $@

# The dev requirements include the runtime ones, so both stamps are fresh afterwards.
$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(PY)
	$(PIP) install -r requirements-dev.txt
	@touch $@ $(VENV)/.installed-run

.venv: $(VENV)/.installed-dev

run: $(VENV)/.installed-run
	$(PY) manage.py migrate --noinput
	$(PY) manage.py demo_users
	exec $(PY) manage.py serve

test: $(VENV)/.installed-dev
	$(PY) -m pytest $(PYTEST_ARGS)

# The production set-up for real (tests/production): needs PostgreSQL and Redis, see README.
test-production: $(VENV)/.installed-dev
	$(PY) -m pytest $(PYTEST_ARGS) tests/production

collectstatic: $(VENV)/.installed-run
	$(PY) manage.py collectstatic --noinput

lint: $(VENV)/.installed-dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

bench: $(VENV)/.installed-dev
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache test-artifacts bench/.cache var/static
	find . -path ./.git -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +

# The reliability suite's soak for half an hour (FCMDASH_TEST_SOAK_SECONDS sets another length).
.PHONY: soak reliability-table
soak: $(VENV)/.installed-dev
	FCMDASH_TEST_SOAK_SECONDS=$${FCMDASH_TEST_SOAK_SECONDS:-1800} \
		$(PY) -m pytest -s $(PYTEST_ARGS) tests/reliability/test_soak.py

# The reliability suite and the parser's fuzzing; writes their table into README.md.
reliability-table: $(VENV)/.installed-dev
	FCMDASH_TEST_WRITE_RELIABILITY=1 $(PY) -m pytest $(PYTEST_ARGS) tests/reliability \
		tests/ami/test_parser.py
