# The two commands of the README: `make demo` and `make test`. Both create .venv when needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SAMPLE := DIGEST_SOURCES=sample DIGEST_SUBSCRIBERS=subscribers.example.toml DIGEST_EMAIL_BACKEND=file

.PHONY: demo test lint screenshots chromium clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

## demo: install, then run the daily job on the bundled sample listing into outbox/
demo: $(STAMP)
	$(SAMPLE) $(BIN)/digest run --date 2025-06-26
	$(SAMPLE) $(BIN)/digest run --date 2025-11-06
	@echo "The digests are in $(CURDIR)/outbox/ (one .html and one .eml per subscriber and day)."

## chromium: the browser tests drive Debian's chromium; installed here when missing and allowed
chromium:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing (apt-get install chromium): browser tests will be skipped"; fi; }

## test: install, lint, and run the test suite
test: $(STAMP) chromium
	$(BIN)/ruff check digest tests
	$(BIN)/python -m pytest

## screenshots: the showcase digest in headless Chromium, 375 and 800 px, light and dark
screenshots: $(STAMP) chromium
	$(BIN)/python -m tests.support.screenshots docs/screenshots

lint: $(STAMP)
	$(BIN)/ruff check digest tests
	$(BIN)/ruff format --check digest tests

clean:
	rm -rf $(VENV) outbox previews digest.db digest.db-wal digest.db-shm digest.db.lock digest.db.workers dist build
