# The README's two commands are `make demo` and `make test`; each creates .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DEMO_OUT  ?= demo-output

.PHONY: demo test bench lint format clean venv test-tools

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[slicer,test,dev,cohort]'
	touch $(STAMP)

## demo: generate the synthetic patient study once (cached in .cache/), run every pipeline stage
## that exists and write a self-contained HTML report to $(DEMO_OUT)/report.html.
DEMO_CACHE ?= .cache/phantom
demo: $(STAMP)
	$(BIN)/theranostics demo --cache $(DEMO_CACHE) --out $(DEMO_OUT)

## test: the full test suite (core, MRML on a real slicer-core scene, CLI, static checks).
test: $(STAMP) test-tools
	$(BIN)/python -m pytest

## test-tools: dciodvfy (Debian dicom3tools) validates the DICOM we write; installed when the
## machine allows it (root + apt), otherwise the tests that need it skip and say why.
test-tools:
	@command -v dciodvfy >/dev/null 2>&1 || { \
		if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
			(apt-get install -y -qq dicom3tools >/dev/null 2>&1 || \
			 (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq dicom3tools >/dev/null 2>&1)) \
			|| echo "dicom3tools not installable here: dciodvfy tests will skip"; \
		else echo "dciodvfy not found and apt-get not usable: dciodvfy tests will skip"; fi; }

## bench: performance benchmarks, results as JSON in benchmarks/results/.
bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
