# Two commands for a newcomer: `make demo` (install + run the main job) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU wheel by default; GPU machines pass the CUDA build, e.g.
#   make install TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo_results

.PHONY: install demo test test-slow test-real bench clean

install: $(STAMP)

# torch goes in first: an unpinned torch resolved by pip would pull several GB of CUDA wheels.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The main job: an AutoML study on the built-in synthetic dataset (12 trials, 2 at a time on the
# CPU cores), then the best trial's checkpoint evaluated on the test set, exported and run.
demo: install
	$(BIN)/re_identification make_dataset --output $(DEMO_DIR)/data --preset demo --seed 0
	rm -rf $(DEMO_DIR)/study
	$(BIN)/automl launch --skill-dir . --results-dir $(DEMO_DIR)/study --spec $(DEMO_DIR)/data/spec_train.yaml \
		--max-trials 12 --parallel 2 --gpus none --algorithm bayesian

test: install
	$(BIN)/python -m pytest -q

test-slow: install
	$(BIN)/python -m pytest -q -m slow

# Against real servers the tests start themselves: PostgreSQL (apt-installed when missing and root),
# a two-node Ray cluster, optuna-dashboard.
test-real: install
	$(BIN)/python -m pytest -q -m real

clean:
	rm -rf $(DEMO_DIR) .pytest_cache
