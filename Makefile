# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000
# What makemessages leaves out: everything that is not the service's own code.
MESSAGE_IGNORES := --ignore=.venv --ignore=tests --ignore=bench --ignore=deploy --ignore=docs \
	--ignore=var --ignore=staticfiles

.PHONY: run test test-dates lint lock install clean bench stack smoke messages attack-model card-model model

# What is installed is what requirements-dev.lock pins (the runtime's requirements.lock and the
# tools), hashes checked; the project itself on top.
$(STAMP): pyproject.toml requirements.lock requirements-dev.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -qq --upgrade pip
	$(BIN)/pip install -qq --require-hashes -r requirements-dev.lock
	$(BIN)/pip install -qq --no-deps -e .
	touch $(STAMP)

# After changing a dependency in pyproject.toml: resolve the locks again (uv keeps the pins it
# can and moves only what the change needs; `make lock UPGRADE=--upgrade` moves everything).
# The image installs requirements.lock; the tools' lock is held to the same runtime pins.
LOCK := $(BIN)/uv pip compile pyproject.toml --python-version 3.11 --generate-hashes --quiet $(UPGRADE)
lock:
	test -x $(BIN)/uv || $(BIN)/pip install -qq uv
	$(LOCK) -o requirements.lock
	$(LOCK) --extra dev --constraint requirements.lock -o requirements-dev.lock

# The catalogues, compiled from the committed .po files (gettext's msgfmt): English, and the
# Chinese for texts of Django's own that its zh_Hans catalogue lacks.
MO := $(patsubst %.po,%.mo,$(wildcard locale/*/LC_MESSAGES/django.po))
%.mo: %.po
	msgfmt --check -o $@ $<

install: $(STAMP) $(MO)

# After changing a user-facing text: gather the source's messages into the English .po
# (then translate the new entries; tests/test_i18n.py fails while any is left empty).
messages: $(STAMP)
	$(BIN)/python manage.py makemessages -l en --no-obsolete $(MESSAGE_IGNORES)

# Set up and start the service with demo data (SQLite, in-process cache, eager Celery
# unless DATABASE_URL / REDIS_URL say otherwise).
run: export DEBUG ?= 1
# Django's banner about its development server: README says so already, once.
run: export DJANGO_RUNSERVER_HIDE_WARNING ?= true
run: $(STAMP) $(MO)
	$(BIN)/python manage.py migrate --no-input -v 0
	$(BIN)/python manage.py seed_demo --url http://$(HOST):$(PORT)
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

# The same checks as .pre-commit-config.yaml: ruff, ruff's formatting, mypy (pyproject.toml
# says where it is strict).
lint: export SECRET_KEY ?= make-test-only-secret-key
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Set up and pass the tests (lint and migration check included).
test: export SECRET_KEY ?= make-test-only-secret-key
test: $(STAMP) $(MO) lint
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest

# The date-sensitive tests (marked `dates`) again with the clock moved (tests/conftest.py's
# TEST_CLOCK): New Year's night in Beijing while UTC is still in the old year, 29 February, and the
# first seconds of the 16th birthday of the ward in tests/ecard/services/test_guardians.py. CI runs it.
CLOCKS ?= 2028-01-01T02:00:00+08:00 2028-02-29T10:00:00+08:00 2026-12-03T00:00:30+08:00
test-dates: export SECRET_KEY ?= make-test-only-secret-key
test-dates: $(STAMP) $(MO)
	set -e; for clock in $(CLOCKS); do echo "== clock moved to $$clock"; \
	TEST_CLOCK=$$clock $(BIN)/pytest -q -m dates; done

# The attacker's model's long run: new random walks each time (CI runs a bounded, fixed set).
attack-model: export SECRET_KEY ?= make-test-only-secret-key
attack-model: $(STAMP) $(MO)
	ATTACK_MODEL_RANDOM=1 ATTACK_MODEL_SHRINK=1 ATTACK_MODEL_EXAMPLES=$${EXAMPLES:-300} \
	ATTACK_MODEL_STEPS=$${STEPS:-40} $(BIN)/pytest -p no:logging -s \
	tests/test_attackers_model.py -k edge_of

# The card-life model's long run (tests/test_card_life_model.py): new random walks each time,
# 500 walks of 40 steps (20,000 steps) by default, shrunk to the shortest when one fails (CI
# runs a bounded, fixed set). `make model` is the same.
# Then each of issue 27's seams, put back, must be found by the invariant named beside it.
card-model model: export SECRET_KEY ?= make-test-only-secret-key
card-model model: $(STAMP) $(MO)
	CARD_MODEL_RANDOM=1 CARD_MODEL_SHRINK=1 CARD_MODEL_EXAMPLES=$${EXAMPLES:-500} \
	CARD_MODEL_STEPS=$${STEPS:-40} $(BIN)/pytest -p no:logging -s tests/test_card_life_model.py \
	-k stranded
	CARD_MODEL_SEAMS=1 $(BIN)/pytest -p no:logging tests/test_card_life_model.py -k seam

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache

# Every benchmark under bench/; each prints ratios against a baseline measured in the same run.
bench: $(STAMP) $(MO)
	$(BIN)/python bench/verify.py
	$(BIN)/python bench/device.py
	$(BIN)/python bench/national.py
	$(BIN)/python bench/notices.py
	$(BIN)/python bench/soak.py

# The real stack on this machine (PostgreSQL and Redis on 127.0.0.1): gunicorn, a Celery
# worker and beat, until Ctrl-C.
stack: $(STAMP)
	$(BIN)/python deploy/stack.py run

# Start the stack, walk a holder journey through it over HTTP, stop everything it started.
smoke: $(STAMP)
	$(BIN)/python deploy/stack.py start
	$(BIN)/python deploy/smoke.py; status=$$?; $(BIN)/python deploy/stack.py stop; exit $$status
