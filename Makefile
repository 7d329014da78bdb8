# qpvgeo — two commands on a fresh Debian 12 machine (root, Python 3.11, package registries only):
#   make demo   installs the library in .venv and runs the portrait on the embedded demo territory
#   make test   installs system packages (QGIS 3.22, Chromium), both environments, and runs
#               lint, type checks and the whole test suite (library + real headless QGIS + browser)
# Other targets: make plugin (QGIS plugin zip), make bench (benchmarks), make clean.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
VENV_QGIS := .venv-qgis
PY := $(VENV)/bin/python
PYQ := $(VENV_QGIS)/bin/python
OUT ?= output/portrait
STAMP := $(VENV)/.installed
STAMP_QGIS := $(VENV_QGIS)/.installed
DEMO_STAMP := data/.demo-complete

.PHONY: demo test lint typecheck test-lib test-qgis system venv venv-qgis data plugin bench clean

demo: $(STAMP) $(DEMO_STAMP)
	$(VENV)/bin/qpvgeo portrait --offline --out $(OUT)

test: system $(STAMP) $(DEMO_STAMP) lint typecheck test-lib test-qgis

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[report,test,bench]'
	touch $@

venv: $(STAMP)

$(DEMO_STAMP): data/make_demo.py $(STAMP)
	$(PY) data/make_demo.py

data: $(DEMO_STAMP)

system:
	bash scripts/install_system.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check qpvgeo tests benchmarks data scripts qgis_plugin

typecheck: $(STAMP)
	$(VENV)/bin/mypy

test-lib: $(STAMP) $(DEMO_STAMP)
	$(VENV)/bin/pytest -m "not qgis"

# QGIS tests run in a venv made from Debian's Python (which carries PyQGIS). Without QGIS on the
# machine they run in .venv instead, where each one is skipped with its reason (an error in CI).
test-qgis: $(STAMP) $(DEMO_STAMP)
	if /usr/bin/python3 -c 'import qgis.core' 2>/dev/null; then \
	  $(MAKE) $(STAMP_QGIS) && $(MAKE) plugin && \
	  QT_QPA_PLATFORM=offscreen $(PYQ) -m pytest -m qgis -p no:cacheprovider; \
	else \
	  $(VENV)/bin/pytest -m qgis; \
	fi

$(STAMP_QGIS): setup.cfg pyproject.toml
	test -x $(PYQ) || /usr/bin/python3 -m venv --system-site-packages $(VENV_QGIS)
	$(PYQ) -m pip install --quiet --upgrade pip
	$(PYQ) -m pip install --quiet 'numpy<2' 'attrs>=23.2' -e '.[report,test]'
	touch $@

venv-qgis: $(STAMP_QGIS)

plugin: $(STAMP)
	$(PY) scripts/build_plugin.py

bench: $(STAMP)
	$(PY) benchmarks/bench_thermography.py
	$(PY) benchmarks/bench_qgis.py

clean:
	rm -rf $(VENV) $(VENV_QGIS) build dist *.egg-info output qpvgeo_plugin.zip data/.demo-complete data/shapes/illustratif_* data/thermography/illustratif_*
