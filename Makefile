# dfgan-notebooks: every command creates .venv on first use (Python 3.11, 3.12 or 3.13) and reuses it afterwards.
#   make lab      open the notebook series in JupyterLab
#   make test     run every test: unit tests, then every notebook under nbval (01-04 in full, the rest DFGAN_QUICK=1)
#   make train    train DF-GAN on the bundled `shapes` data (CPU, 32 px; stops after 4,000 steps)
#   make execute  re-run every notebook in full and store its outputs (what GitHub shows)
#   make site     build the course site (Sphinx + MyST-NB, config in book/) from the committed outputs into site/
#   make e2e      the notebooks in JupyterLab and the site, driven by headless Chromium (part of make test)

PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3.13 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NOTEBOOKS := $(wildcard notebooks/[0-8][0-9]_*.ipynb notebooks/A[0-9]_*.ipynb)
JOBS   ?= 2
# OpenMP threads that spin while waiting make a loaded 2-core machine 10-50x slower: let them sleep
export OMP_WAIT_POLICY ?= PASSIVE
# make execute audits every figure the kernels render (tools/figure_audit.py, an IPython extension): the
# committed outputs carry what it found, and tests/test_notebook_outputs.py reads it
AUDIT := PYTHONPATH=$(CURDIR)/tools$(if $(PYTHONPATH),:$(PYTHONPATH))
AUDIT_KERNEL := --ExecutePreprocessor.extra_arguments="['--ext=figure_audit']"
# pytest exit code 5 means "nothing collected": not a failure for an optional group
PYTEST_OK5 = rc=$$?; if [ $$rc -eq 5 ]; then rc=0; fi; exit $$rc

.PHONY: install lab test unit notebooks e2e train execute figures site bench bench-gpu clean

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert (3, 11) <= sys.version_info[:2] <= (3, 13), "dfgan-notebooks needs Python 3.11, 3.12 or 3.13 (found %s); install one or run: make PYTHON=/path/to/python3.12" % sys.version.split()[0]'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# as root (a container) JupyterLab refuses to start without --allow-root
lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

test: unit notebooks e2e

unit: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -n $(JOBS) --dist loadfile --durations=15 --ignore=tests/e2e tests; $(PYTEST_OK5)

# 01-04 run in full (DFGAN_QUICK=0, a few minutes together) so that the asserts they make only in full mode are
# tested too; every other notebook runs shrunk (DFGAN_QUICK=1)
notebooks: $(STAMP)
	@if [ -z "$(NOTEBOOKS)" ]; then echo "no notebooks yet"; exit 0; fi; \
	full="$(filter notebooks/01_% notebooks/02_% notebooks/03_% notebooks/04_%,$(NOTEBOOKS))"; \
	quick="$(filter-out notebooks/01_% notebooks/02_% notebooks/03_% notebooks/04_%,$(NOTEBOOKS))"; \
	rc=0; for mode in 0 1; do \
		if [ $$mode = 0 ]; then nbs="$$full"; else nbs="$$quick"; fi; [ -n "$$nbs" ] || continue; \
		DFGAN_QUICK=$$mode HF_HUB_OFFLINE=1 MPLBACKEND=Agg $(BIN)/python -m pytest -q -n $(JOBS) --dist loadscope \
			--nbval-lax --nbval-current-env --nbval-cell-timeout=600 -p no:cacheprovider --durations=10 \
			$$nbs; r=$$?; if [ $$r -ne 0 ] && [ $$r -ne 5 ]; then rc=$$r; fi; \
	done; exit $$rc

e2e: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -p no:cacheprovider --durations=10 tests/e2e; $(PYTEST_OK5)

train: $(STAMP)
	$(BIN)/python -m dflib train --preset shapes-32-cpu

execute: $(STAMP)
	DFGAN_QUICK=0 HF_HUB_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 $(AUDIT) $(BIN)/jupyter nbconvert --to notebook \
		--execute --inplace --ExecutePreprocessor.timeout=1800 --ExecutePreprocessor.store_widget_state=False \
		$(AUDIT_KERNEL) $(NOTEBOOKS)
	$(BIN)/python tools/export_figures.py --out notebooks/figures

figures: $(STAMP)
	$(BIN)/python tools/export_figures.py --out notebooks/figures

site: $(STAMP)
	$(BIN)/python tools/build_site.py --notebooks notebooks --out site

bench: $(STAMP)
	$(BIN)/python bench/train_step.py

# the fast path's GPU figures in one command (needs a CUDA GPU; see bench/gpu.sh)
bench-gpu: $(STAMP)
	PYTHON=$(BIN)/python bash bench/gpu.sh

clean:
	rm -rf $(VENV) .pytest_cache
