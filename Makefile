# SendApp: `make run` starts the server, `make test` runs every test, `make bench` measures it
# (docs/BENCHMARKS.md; BENCH_ARGS passes options, e.g. BENCH_ARGS='--runs 2').
# Each target installs what it needs on first use (.venv, node_modules, Debian's chromium and nginx).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: run test test-python test-js bench deps browser proxy cert screenshots translations clean

run: $(VENV)/.runtime node_modules/.installed
	$(PY) app.py

test: $(VENV)/.dev node_modules/.installed browser proxy
	node --test tests/js/
	$(PY) -m pytest

test-python: $(VENV)/.dev node_modules/.installed
	$(PY) -m pytest

test-js: node_modules/.installed
	node --test tests/js/

# Benchmarks: the real server pinned to core 0, the load generator to core 1, PostgreSQL on
# 127.0.0.1:5432 (SENDAPP_TEST_POSTGRES), then the browser side in Debian's chromium
# (Playwright, hence the dev requirements); results in bench/results/latest.json.
BENCH_ARGS ?=
bench: $(VENV)/.dev node_modules/.installed browser proxy
	$(PY) -m bench $(BENCH_ARGS)

# Retake docs/screenshots/*.png (the test takes them into a temporary folder otherwise).
screenshots: $(VENV)/.dev node_modules/.installed browser
	SENDAPP_UPDATE_SCREENSHOTS=1 $(PY) -m pytest tests/browser/test_screenshots.py \
		tests/browser/test_groups.py -k screenshots

deps: $(VENV)/.dev node_modules/.installed

# Bring sendapp/translations/*/LC_MESSAGES/*.po in step with the sentences in the code (new ones
# appear untranslated, removed ones go); then translate the new ones (sendapp/i18n).
translations: $(VENV)/.runtime
	$(VENV)/bin/flask --app app translations

cert: $(VENV)/.runtime
	$(VENV)/bin/flask --app app cert

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(VENV)/bin/python
	$(PIP) install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(PIP) install --quiet -r requirements-dev.txt
	touch $(VENV)/.runtime $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $@

# Debian packages the tests run, installed (after `apt-get update`) only when one is missing.
# Debian's chromium drives the browser tests (Playwright never downloads a browser here);
# the emoji font makes the emoji in tests and screenshots render.
BROWSER_PACKAGES := chromium fonts-noto-color-emoji
# nginx runs deploy/nginx.conf in front of two server processes (tests/live/test_nginx_cluster_live.py).
PROXY_PACKAGES := nginx

define apt_install
	@missing=$$(for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian packages for $(2): $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
endef

browser:
	$(call apt_install,$(BROWSER_PACKAGES),the browser tests)

proxy:
	$(call apt_install,$(PROXY_PACKAGES),the reverse-proxy tests)

clean:
	rm -rf $(VENV) node_modules .pytest_cache
