# alice-mcp: every target creates .venv and installs the project first, so a fresh clone works.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BROWSER := $(VENV)/.chromium
EXIFTOOL := $(VENV)/.exiftool
EXAMPLES := examples

.PHONY: install test stress demo bench bench-quick lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	touch $(STAMP)

install: $(STAMP)

# Debian's chromium for the gallery test (tests/test_gallery.py drives it with Playwright; never
# `playwright install`). Only where apt-get exists; elsewhere that test skips and says why.
$(BROWSER): | $(STAMP)
	command -v chromium >/dev/null || ! command -v apt-get >/dev/null || \
		(apt-get update -qq && apt-get install -y -qq chromium) || \
		echo "could not install chromium: tests/test_gallery.py will skip"
	! command -v chromium >/dev/null || touch $(BROWSER)

# Debian's exiftool: tests/test_sidecars.py checks that it reads the XMP alice writes (the
# test says why and returns where it is missing)
$(EXIFTOOL): | $(STAMP)
	command -v exiftool >/dev/null || ! command -v apt-get >/dev/null || \
		(apt-get update -qq && apt-get install -y -qq libimage-exiftool-perl) || \
		echo "could not install exiftool: the sidecar check with exiftool will not run"
	touch $(EXIFTOOL)

test: $(STAMP) $(BROWSER) $(EXIFTOOL)
	$(BIN)/python -m pytest -q

# the reliability tests, longer: 300 SIGKILLs, 20x the property-test examples, 30 rounds of
# two --move runs racing into one organized folder
stress: $(STAMP)
	ALICE_KILL_ROUNDS=150 ALICE_PROPERTY_SCALE=20 ALICE_RACE_ROUNDS=30 $(BIN)/python -m pytest -q \
		tests/test_kill.py tests/test_bad_input.py tests/test_properties.py tests/test_hardening.py \
		tests/test_placement_races.py tests/test_parser_fuzz.py

bench: $(STAMP)
	$(BIN)/python -m bench

bench-quick: $(STAMP)
	$(BIN)/python -m bench --quick

lint: $(STAMP)
	$(BIN)/ruff check .

demo: $(STAMP)
	rm -rf $(EXAMPLES)/inbox $(EXAMPLES)/organized $(EXAMPLES)/demo.duckdb*
	$(BIN)/python $(EXAMPLES)/make_inbox.py $(EXAMPLES)/inbox
	$(BIN)/alice --config $(EXAMPLES)/settings.yaml --inbox $(EXAMPLES)/inbox \
		--organized $(EXAMPLES)/organized --database $(EXAMPLES)/demo.duckdb
	@echo
	@echo '$$ alice search fox'
	$(BIN)/alice --config $(EXAMPLES)/settings.yaml --database $(EXAMPLES)/demo.duckdb search fox
	$(BIN)/alice --config $(EXAMPLES)/settings.yaml --database $(EXAMPLES)/demo.duckdb stats

clean:
	rm -rf $(VENV) $(EXAMPLES)/inbox $(EXAMPLES)/organized $(EXAMPLES)/demo.duckdb*
