# ledgerlens: `make run` and `make test` bootstrap everything from requirements.lock on a fresh machine.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The data home (default ./data) is read once, by pipelines/settings.py; nothing else is exported.
export LEDGERLENS_HOME ?= $(CURDIR)/data
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export GX_ANALYTICS_ENABLED := false
export DAGSTER_DISABLE_TELEMETRY := 1

.PHONY: run test lint ui bench lock manifest clean

$(STAMP): requirements.lock pyproject.toml setup.py zk/_sha256tree.c
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or run make PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

# @dbt_assets needs dbt_project/target/manifest.json at import time; it is never committed.
manifest: $(STAMP)
	cd dbt_project && ../$(BIN)/dbt parse --quiet --profiles-dir . --project-dir .

run: $(STAMP) manifest
	$(BIN)/ledgerlens run --demo-if-empty

# The render test of the HTML reports needs headless Chromium (installed from Debian if missing).
test: $(STAMP) manifest lint
	sh scripts/ensure_chromium.sh
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

ui: $(STAMP) manifest
	DAGSTER_HOME=$${DAGSTER_HOME:-$(LEDGERLENS_HOME)/dagster} $(BIN)/python -c "from pipelines.cli import prepare_dagster_home; from pipelines.settings import Settings; prepare_dagster_home(Settings.from_env().home.ensure())"
	DAGSTER_HOME=$${DAGSTER_HOME:-$(LEDGERLENS_HOME)/dagster} $(BIN)/dagster dev -h 127.0.0.1 -p 3000 -m pipelines.definitions

bench: $(STAMP) manifest
	$(BIN)/python -m benchmarks.run

lock: $(STAMP)
	(echo "# The one lock file: every package of the runtime + dev/test set, exact. Regenerate with 'make lock'."; \
	 $(BIN)/pip freeze --exclude-editable | grep -v '^ledgerlens') > requirements.lock

clean:
	rm -rf $(VENV) dbt_project/target dbt_project/logs
