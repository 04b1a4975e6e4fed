# The README's Quick start: `make demo` (train + predict on a real log) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
EVENTS ?= ../shared/data/cdnow/events.csv.gz
OUT ?= out

.PHONY: install demo run test lint format bench features-doc accuracy docs-screenshot web-screenshots web-check web-check-offline clean compose-smoke

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps --editable .
	touch $@

# Train on EVENTS and score it; without the shared log, a synthetic one is generated first.
demo: install
	@if [ -f "$(EVENTS)" ]; then events="$(EVENTS)"; else \
		events="$(OUT)/synthetic_events.csv.gz"; echo "$(EVENTS) not found: generating $$events"; \
		$(BIN)/python -m ml_pipeline generate --customers 20000 --events 200000 --out $$events; fi; \
	$(BIN)/python -m ml_pipeline train --events "$$events" --out $(OUT)/model && \
	$(BIN)/python -m ml_pipeline predict --model $(OUT)/model --events "$$events" --out $(OUT)/predictions.csv && \
	head -n 5 $(OUT)/predictions.csv

# The service on the embedded defaults (SQLite, local folder, file broker) with one worker process.
run: install
	./scripts/run_local.sh

# The deployment set built and run here, on loopback (README "Deploy"); not part of `make test`.
compose-smoke:
	./scripts/compose_smoke.sh

test: install lint
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	$(BIN)/python benchmarks/bench_pipeline.py

accuracy: install
	scripts/accuracy.sh $(BIN)/python

# docs/swagger-offline.png: /docs rendered by headless Chromium with no network (needs Debian's chromium)
docs-screenshot: install
	scripts/docs_screenshot.sh $(BIN)/python

# The browser test against a running `make run` (another shell; PORT as there, default 5000): its
# organizations are made with this checkout's `flask orgs create`, on the same SQLite file.
web-check: install
	HCL_WEB_URL=http://localhost:$${PORT:-5000} $(BIN)/python -m pytest -q -p no:cacheprovider tests/service/test_web_browser.py

# The same with the network off: make run and web-check in a network namespace with only loopback.
web-check-offline: install
	./scripts/web_check_offline.sh

# docs/web-*.png: the web pages as the browser test sees them (needs Debian's chromium and chromium-driver)
web-screenshots: install
	HCL_SCREENSHOTS=docs $(BIN)/python -m pytest -q tests/service/test_web_browser.py -k "shared or model"

features-doc: install
	$(BIN)/python -m ml_pipeline features --markdown > docs/features.md

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .ruff_cache
