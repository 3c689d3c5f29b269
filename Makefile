# The two commands: `make demo` and `make test`. Each creates .venv and installs what it needs;
# stamp files make a second run skip what is already installed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
EXAMPLE_PLUGINS := examples/rura-kcenters
BASE_STAMP := $(VENV)/.installed-base
TEST_STAMP := $(VENV)/.installed-test

.PHONY: demo test lint docs clean install

# Until the pipeline lands, the demo runs every plugin's conformance check (real models, tiny inputs).
demo: $(BASE_STAMP)
	$(VENV)/bin/rura plugins --check

test: $(TEST_STAMP)
	$(PY) -m pytest

lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

docs: $(TEST_STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

install: $(BASE_STAMP)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# torch and torchvision are pinned as a pair (CPU-compatible wheels on this project's machines);
# scikit-learn-extra 0.3.0's wheels break under numpy 2, so it is built from source against it.
$(BASE_STAMP): $(VENV)/bin/python pyproject.toml
	$(PIP) install torch==2.14.1 torchvision==0.29.1
	$(PIP) install numpy cython setuptools wheel
	$(PY) -c "import sklearn_extra.cluster" 2>/dev/null || $(PIP) install --no-build-isolation \
		--no-cache-dir --no-binary scikit-learn-extra scikit-learn-extra
	$(PIP) install -e .
	touch $@

$(TEST_STAMP): $(BASE_STAMP) $(foreach p,$(EXAMPLE_PLUGINS),$(p)/pyproject.toml)
	$(PIP) install -e ".[test]" $(foreach p,$(EXAMPLE_PLUGINS),-e $(p))
	touch $@

clean:
	rm -rf $(VENV) site .pytest_cache .ruff_cache
