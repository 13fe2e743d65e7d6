# Two entry points do all set-up on a fresh machine: `make run` and `make test`.
PY      := .venv/bin/python
GEO_APP := .venv/bin/geo-app
STAMP   := .venv/.installed
# axe-core from npm (package.json, package-lock.json): for the tests only, never served
NODE_STAMP := node_modules/.installed
HOST    ?= 127.0.0.1
PORT    ?= 8000
# old (2024) units → 2025 units, used where it lies beside the boundary set
CROSSWALK ?= ../shared/boundaries/thanh-hoa-2025/crosswalk_2024units_to_2025_vietnamadminunits.csv

.PHONY: run test setup system-deps bench lint test-tools

$(STAMP): pyproject.toml
	python3 -m venv .venv
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

$(NODE_STAMP): package.json package-lock.json | system-deps
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

test-tools: $(NODE_STAMP)

# Debian packages the tests need: chromium for browser tests, poppler-utils for pdftotext, npm
# for axe-core (the accessibility test),
# PostGIS for the store's SQL overlays and neighbour look-ups (the tests create the extension
# in a database of their own, geoapp_postgis_test).
POSTGIS_CONTROL := /usr/share/postgresql/15/extension/postgis.control
system-deps:
	@command -v chromium >/dev/null && command -v pdftotext >/dev/null && command -v npm >/dev/null && test -f $(POSTGIS_CONTROL) || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium poppler-utils npm postgresql-15-postgis-3; }

run: $(STAMP)
	$(GEO_APP) db upgrade
	$(GEO_APP) boundaries prepare
	$(GEO_APP) divisions crosswalk $(CROSSWALK) --old 2024 --valid-to 2025-06-30
	$(GEO_APP) status import --if-empty geo_app/sample_data/status_sample_2025.csv
	$(GEO_APP) status import --if-empty --division 2024 geo_app/sample_data/status_sample_2024.csv
	$(GEO_APP) status import --if-empty --programme drugs geo_app/sample_data/drugs_sample_2025.csv
	$(GEO_APP) users first-admin
	$(GEO_APP) serve --host $(HOST) --port $(PORT)

test: $(STAMP) system-deps $(NODE_STAMP)
	$(PY) -m ruff check geo_app tests scripts
	$(PY) -m ruff format --check geo_app tests scripts
	$(PY) -m pytest

# Every benchmark to the end (the load test too: it needs PostgreSQL at 127.0.0.1:5432), then
# docs/PERFORMANCE.md rewritten from what they print (about 10 minutes; see scripts/bench_all.py).
bench: $(STAMP) system-deps
	$(PY) scripts/bench_all.py
