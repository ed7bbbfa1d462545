# The two commands of the README: `make demo` (train + evaluate on synthetic data) and `make test`
# (ruff, the import contract, the documentation site built strictly, the tests with every example of
# the docs).
VENV ?= .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.sparseg-installed
DEMO ?= demo
SITE ?= site
export HF_HUB_OFFLINE := 1
export NO_MKDOCS_2_WARNING := 1  # Material's end-of-life banner; the build itself stays strict

.PHONY: demo test lint env docs docs-reference

env: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -r requirements.lock
	$(PYTHON) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	rm -rf $(DEMO)/run
	$(VENV)/bin/sparseg synth $(DEMO)/data --n 240 --size 128x128 --fg 0.02 --empty 0.25 --seed 0
	$(VENV)/bin/sparseg inspect $(DEMO)/data
	$(VENV)/bin/sparseg train --config configs/quick.yaml --data $(DEMO)/data --out $(DEMO)/run
	$(VENV)/bin/sparseg tune --run $(DEMO)/run --data $(DEMO)/data
	$(VENV)/bin/sparseg evaluate --run $(DEMO)/run --data $(DEMO)/data --subset test

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-logo --no-cache  # [tool.importlinter]; 0.1 s, so no cache folder
	$(VENV)/bin/mkdocs build --strict --quiet --site-dir $(SITE)
	$(VENV)/bin/pytest -q

# The documentation site (docs/, mkdocs.yml) into $(SITE); warnings such as broken links fail it.
docs: $(STAMP)
	$(VENV)/bin/mkdocs build --strict --site-dir $(SITE)

# Rewrite docs/configuration.md from the schema and the shipped presets (a test fails until it is).
docs-reference: $(STAMP)
	$(PYTHON) -m sparseg.config.reference docs/configuration.md

lint: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .
