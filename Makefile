# The two commands of the README: `make demo` and `make test`. Both create .venv when needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SAMPLE := DIGEST_SOURCES=sample DIGEST_SUBSCRIBERS=subscribers.example.toml DIGEST_EMAIL_BACKEND=file
# apt-get waits up to 10 minutes for another package manager's dpkg lock instead of failing.
# `apt-get update` ignores that for the package lists' own lock: while another package manager
# holds it, it is tried again every 5 seconds, for up to 10 minutes.
APT    := apt-get -o DPkg::Lock::Timeout=600
APT_UPDATE := tries=0; while ! err=$$($(APT) update -qq 2>&1); do \
	  case "$$err" in *"Could not get lock"*) ;; *) echo "$$err" >&2; exit 1;; esac; \
	  tries=$$((tries + 1)); [ $$tries -le 120 ] || { echo "$$err" >&2; exit 1; }; \
	  [ $$tries -gt 1 ] || echo "another package manager is busy: waiting for it (up to 10 minutes)"; \
	  sleep 5; \
	done

.PHONY: demo test lint screenshots chromium clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

## demo: install, then run the daily job on the bundled sample listing into outbox/; the
## demo's settings (.env.demo) become .env unless there is one, so `digest status`, `rank`
## and `preview` afterwards work on the sample too
demo: $(STAMP)
	@if [ -e .env ]; then \
	  echo "kept your .env: digest commands read it, not the demo's settings (.env.demo)"; \
	else cp .env.demo .env && \
	  echo "wrote .env: the demo's settings (.env.demo), so the digest commands you run next use the sample too"; fi
	$(SAMPLE) $(BIN)/digest run --date 2025-06-26
	$(SAMPLE) $(BIN)/digest run --date 2025-11-06
	@echo "The digests are in $(CURDIR)/outbox/ (one .html and one .eml per subscriber and day)."

## chromium: the browser tests drive Debian's chromium; installed here when missing and allowed
chromium:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    $(APT_UPDATE) && DEBIAN_FRONTEND=noninteractive \
	      $(APT) install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing (apt-get install chromium): browser tests will be skipped"; fi; }

## test: install, lint, and run the test suite
test: $(STAMP) chromium
	$(BIN)/ruff check digest tests
	$(BIN)/python -m pytest

## screenshots: the showcase digest in headless Chromium, 375 and 800 px, light and dark
screenshots: $(STAMP) chromium
	$(BIN)/python -m tests.support.screenshots docs/screenshots
	$(BIN)/python -m tests.support.page_shots docs/screenshots

lint: $(STAMP)
	$(BIN)/ruff check digest tests
	$(BIN)/ruff format --check digest tests

clean:
	rm -rf $(VENV) outbox previews digest.db digest.db-wal digest.db-shm digest.db.lock digest.db.workers dist build
	@if [ -f .env ] && cmp -s .env .env.demo; then rm .env && echo "removed .env (the demo's)"; \
	elif [ -f .env ]; then echo "kept .env: it is not the demo's (.env.demo) as written"; fi
