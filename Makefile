# Two entry points, both documented in README.md:
#   make demo   create .venv, install glymph from PyPI packages, run the phantom demo into demo-output/
#   make test   install the test tools (Debian reference packages too, when root) and run the suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEBIAN_PACKAGES := mrtrix3 mricron-data insighttoolkit5-examples cmake
# PyTorch and torchvision pinned to the builds pip takes from this machine's wheel folder (asking for
# them before anything else keeps pip from resolving other builds for `torch>=2.1`); torchvision is
# for ultralytics, which `glymph train roi-detector` uses.
TORCH := torch==2.14.1 torchvision==0.29.1

.PHONY: demo test test-deps lint

$(BIN)/glymph: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "glymph needs Python >= 3.11 (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e '.[models]'
	@touch $@

demo: $(BIN)/glymph
	$(BIN)/glymph demo --out demo-output

test-deps: $(BIN)/glymph
	$(BIN)/pip install --quiet -e '.[test,models,train,cohort]'
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		missing=$$(for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
		if [ -n "$$missing" ]; then \
			echo "installing Debian reference packages: $$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
		fi; \
	else echo "not root: tests needing $(DEBIAN_PACKAGES) will be skipped unless installed"; fi

lint: test-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest
