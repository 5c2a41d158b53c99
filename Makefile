# Set-up and everyday commands. Every target creates the virtual environment
# (.venv, in this repository) and installs the package into it when missing.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install lock demo lint docs test test-slow test-all bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python >= 3.10 is needed")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

# Refresh constraints.txt (the exact versions make install uses) from the installed set.
lock: $(STAMP)
	{ sed -n '1,2p' constraints.txt; $(PY) -m pip freeze --exclude-editable | sed 's/+[a-z0-9.]*$$//' | sort -f; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

# The main job: corpus -> vocabulary -> pre-training -> evaluation -> export,
# on the shipped demo corpus with the tiny model (its time: docs/getting-started.md).
demo: $(STAMP)
	$(PY) pipelines/run.py --config pipelines/configs/demo.yaml --output runs/demo --export-name spanbert-demo

# Lint (ruff; configuration in pyproject.toml).
lint: $(STAMP)
	$(VENV)/bin/ruff check spanbert_keras spanbert_keras_cli.py pipelines benchmarks tests notebooks docs

# The documentation site (docs/, mkdocs.yml) into site/; any warning fails it
# (a broken link or anchor, a page outside the navigation, an unreadable docstring).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

test: $(STAMP)
	$(PY) -m pytest -n 2

# The slow set: statistics on long blocks, models trained to a target,
# several devices and processes (CI runs it after the default suite).
test-slow: $(STAMP)
	$(PY) -m pytest -n 2 -m slow

# Both sets in one run.
test-all: $(STAMP)
	$(PY) -m pytest -n 2 -m ""

bench: $(STAMP)
	$(PY) benchmarks/text_pipeline.py
	$(PY) benchmarks/masking.py
	$(PY) benchmarks/train_step.py
	$(PY) benchmarks/distribute.py

clean:
	rm -rf runs .pytest_cache site
