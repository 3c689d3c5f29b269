# The two commands: `make demo` and `make test`. Each creates .venv and installs what it needs;
# stamp files make a second run skip what is already installed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
EXAMPLE_PLUGINS := examples/rura-kcenters examples/rura-cxr
BASE_STAMP := $(VENV)/.installed-base
TEST_STAMP := $(VENV)/.installed-test

.PHONY: demo test test-fast lint typecheck docs clean install

# The demo: SynthFundus data (known diseases, a lesion-annotated set, a few pictures of the target,
# an external evaluation set from another camera), then RURA-Net end to end (`rura run`) and its
# ablation (`rura ablate`, the paper's Table 6). Results tables print; the report is an HTML file.
DEMO_DIR ?= demo-output
DEMO_DATA := $(DEMO_DIR)/data
DEMO_CONFIG := examples/synthfundus-demo.yaml
RURA := $(VENV)/bin/rura
SYNTH := $(RURA) synth --size 256 --seed

DEMO_SETS := $(foreach s,known lesions examples external,$(DEMO_DATA)/$(s)/synth.json)

demo: $(BASE_STAMP) $(DEMO_SETS)
	$(RURA) run $(DEMO_CONFIG)
	$(RURA) ablate $(DEMO_CONFIG)

# Each set is written once; a second `make demo` finds every stage of the run cached.
$(DEMO_DATA)/known/synth.json: | $(BASE_STAMP)
	$(SYNTH) 0 --per-class 40 $(@D) --classes normal,hypertensive_retinopathy,glaucoma,amd,rvo
$(DEMO_DATA)/lesions/synth.json: | $(BASE_STAMP)
	$(SYNTH) 2 --per-class 16 $(@D) --classes moderate_dr,hypertensive_retinopathy,rvo
$(DEMO_DATA)/examples/synth.json: | $(BASE_STAMP)
	$(SYNTH) 3 --per-class 8 $(@D) --classes mild_dr
$(DEMO_DATA)/external/synth.json: | $(BASE_STAMP)
	$(SYNTH) 1 --per-class 60 $(@D) --domain external --classes normal,mild_dr

# Everything, as CI runs it; the 25 slowest tests are listed at the end.
test: $(TEST_STAMP)
	$(PY) -m pytest --durations=25

# The fast tier for the edit-test loop: every test not marked slow (CI runs them all).
test-fast: $(TEST_STAMP)
	$(PY) -m pytest -m "not slow"

lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# mypy on the packages named in pyproject's [tool.mypy] (CI runs it).
typecheck: $(TEST_STAMP)
	$(VENV)/bin/mypy

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
	rm -rf $(VENV) site $(DEMO_DIR) .pytest_cache .ruff_cache
