# The two commands: `make run` and `make test`. Both call `make install` first.
VENV   ?= .venv
PYTHON ?= python3
DATA   ?= .sealyard
LISTEN ?= 127.0.0.1:5000

.PHONY: install run test test-fast lint typecheck bench clean

install: $(VENV)/.installed
	@bash scripts/install-system-deps.sh
	@bash scripts/install-peers.sh $(VENV)

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	@touch $@

run: install
	$(VENV)/bin/sealyard serve --data $(DATA) --listen $(LISTEN)

test: install
	$(VENV)/bin/ruff check sealyard tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/python -m pytest --cov=sealyard --cov-branch --cov-report=term:skip-covered

test-fast: install
	$(VENV)/bin/python -m pytest -m 'not integration'

lint: install
	$(VENV)/bin/ruff check sealyard tests benchmarks
	$(VENV)/bin/ruff format --check sealyard tests benchmarks

typecheck: install
	$(VENV)/bin/mypy

bench: install
	$(VENV)/bin/python benchmarks/registry_vs_distribution.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
