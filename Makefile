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

# The demo: SynthFundus data, then zero-shot diagnosis of mild DR with the offline pretrained
# backbone, on whole images and on lesion-focused images (ground-truth masks until the segmenter
# lands). Results tables print; reports land in $(DEMO_DIR).
DEMO_DIR ?= demo-output
RURA := $(VENV)/bin/rura
DEMO_COMPARE := --data $(DEMO_DIR)/external --source $(DEMO_DIR)/source --reference-label normal \
	--target mild_dr --backbone efficientnet_lite0 --cluster agg,kmeans,pam --seeds 0,1,2

demo: $(BASE_STAMP)
	$(RURA) synth $(DEMO_DIR)/source --size 224 --per-class 60 --seed 0 \
		--classes normal,hypertensive_retinopathy
	$(RURA) synth $(DEMO_DIR)/external --size 224 --per-class 60 --seed 1 --domain external \
		--classes normal,mild_dr
	@echo "== Zero-shot diagnosis of mild DR from hypertensive retinopathy: whole images"
	$(RURA) compare $(DEMO_COMPARE) --out $(DEMO_DIR)/whole-image
	@echo "== The same, the backbone seeing only the lesions (SynthFundus ground-truth masks)"
	$(RURA) compare $(DEMO_COMPARE) --focus masked --lesions ma,he,cws --out $(DEMO_DIR)/lesion-focus
	@echo "Leaderboards, plots and models: $(DEMO_DIR)/whole-image and $(DEMO_DIR)/lesion-focus"

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
	rm -rf $(VENV) site $(DEMO_DIR) .pytest_cache .ruff_cache
