# The two commands of the README:
#   make demo   set everything up (system packages, .venv) and run the simulated operation
#   make test   set everything up and run the whole test suite with its lint and type gates
.PHONY: demo test setup lint typecheck pytest bench

export MUJOCO_GL ?= egl
VENV := .venv
BIN := $(VENV)/bin

setup:
	@bash scripts/bootstrap.sh

demo: setup
	$(BIN)/telesurgery demo $(ARGS)

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: setup
	$(BIN)/mypy

pytest: setup
	$(BIN)/pytest -q

test: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	@# a throwaway PostgreSQL so the database tests run on both SQLite and PostgreSQL
	@url=$$(bash scripts/postgres.sh start); \
	TELESURGERY_TEST_POSTGRES_URL=$$url $(BIN)/pytest -q; rc=$$?; \
	bash scripts/postgres.sh stop; exit $$rc

bench: setup
	$(BIN)/python bench/robot.py
	$(BIN)/python bench/safety.py
