# keel.postgres — developer entry points. Every target installs what it needs and is safe to re-run.
#   make lab          fresh machine -> the multi-region lab in local containers, status printed
#   make lab-destroy  remove exactly what `make lab` created
#   make test         lint, unit tests, sanity, collection build beside the Molecule scenarios (the CI entry point)
#   make bench        create a lab and time site.yml (bench-modules, bench-routing, bench-backup, bench-failover, bench-dr: against `make lab`)
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV        ?= .venv
PY          := $(VENV)/bin/python
BIN         := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export NO_COLOR := 1
export PY_COLORS := 0
export ANSIBLE_FORCE_COLOR := 0
SCENARIOS   ?= default postgresql
LAB_DIR     := .lab
# Where the lab's S3 endpoint keeps its state and CA; the lab inventory reads it (pgBackRest's CA).
export KEEL_S3_STATE_DIR ?= $(CURDIR)/$(LAB_DIR)/s3

.PHONY: help venv deps docker image s3 s3-stop lab lab-destroy lab-status test lint unit sanity build molecule bench bench-modules bench-routing bench-backup bench-failover bench-dr

help:
	@grep -E '^#   make' Makefile | sed 's/^#   //'

# --- tooling -------------------------------------------------------------------------------
$(VENV)/.stamp: requirements-dev.txt
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip check
	touch $@

venv: $(VENV)/.stamp

# Debian packages the controller needs: the Docker engine, debootstrap for the base image,
# and a PostgreSQL 15 server for the modules' tests against a real primary and standby.
deps:
	@tools/lab/host-deps.sh

docker: deps
	@tools/lab/docker-up.sh

image: docker
	@tools/lab/build-image.sh

# --- lab -----------------------------------------------------------------------------------
s3: venv
	@$(PY) tools/lab/s3.py start --state-dir $(KEEL_S3_STATE_DIR)

s3-stop:
	@if [ -x $(PY) ]; then $(PY) tools/lab/s3.py stop --state-dir $(KEEL_S3_STATE_DIR); fi

lab: venv image s3
	@start=$$(date +%s); \
	$(BIN)/ansible-playbook -i inventories/lab playbooks/lab/create.yml; \
	$(BIN)/ansible-playbook -i inventories/lab site.yml; \
	$(PY) tools/lab/status.py; \
	echo "make lab: $$(( $$(date +%s) - start )) s (containers + site.yml + status)"

lab-status: venv
	@$(PY) tools/lab/status.py

lab-destroy: s3-stop
	@if docker info >/dev/null 2>&1 && [ -x $(BIN)/ansible-playbook ]; then \
	  $(BIN)/ansible-playbook -i inventories/lab playbooks/lab/destroy.yml; fi

# --- tests ---------------------------------------------------------------------------------
# Two lanes at once (checks beside the Molecule scenarios), then each stage's duration: tools/test-stages.sh.
test:
	@SCENARIOS="$(SCENARIOS)" tools/test-stages.sh

lint: venv
	$(BIN)/yamllint --strict .
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(PY) tools/check_argument_specs.py
	$(BIN)/ansible-lint --offline --profile production

unit: venv docker
	$(BIN)/pytest -q tests/unit tests/integration

sanity: venv
	@tools/sanity.sh

build: venv
	@tools/build-check.sh

# Molecule gets its own S3 endpoint (port and state) so tests never share a running lab's; it is
# stopped when the scenarios end, passed or not.
molecule: export KEEL_S3_PORT := 9444
molecule: export KEEL_S3_STATE_DIR := $(CURDIR)/$(LAB_DIR)/s3-molecule
molecule: venv image
	@$(PY) tools/lab/s3.py start --state-dir $(KEEL_S3_STATE_DIR)
	@trap '$(PY) tools/lab/s3.py stop --state-dir $(KEEL_S3_STATE_DIR)' EXIT; \
	for s in $(SCENARIOS); do \
	  echo "=== molecule test -s $$s"; \
	  $(BIN)/molecule test -s $$s || exit 1; \
	done

bench: venv image s3
	@$(PY) tools/bench.py

# Per-host run time of the custom modules against the running lab (`make lab` first).
bench-modules: venv
	@$(PY) tools/bench_modules.py

# Write gap during a switchover through the read-write endpoint, and connection set-up rates
# direct versus through PgBouncer, against the running lab (`make lab` first).
bench-routing: venv
	@$(PY) tools/bench_routing.py

# Archive delay under a pgbench write load, full backup and scratch restore times, against the
# running lab (`make lab` first).
bench-backup: venv
	@$(PY) tools/bench_backup.py

# Time from a killed, frozen or cut-off leader to the first acknowledged commit, commits lost, and
# the write gap of a planned switchover, against the running lab (`make lab` first).
bench-failover: venv
	@$(PY) tools/bench_failover.py

# DR round trip under a write load (dr_promote.yml, then dr_failback.yml with switch back):
# promotion time, playbook times, client write gaps, lost commits; against the running lab.
bench-dr: venv
	@$(PY) tools/bench_dr.py
