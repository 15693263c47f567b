# Yorisoi developer and CI entry points.
#
#   make venv   create .venv (if missing) and install the project with its test
#               extra; reinstalls only when pyproject.toml has changed
#   make runtime  create .venv (if missing) and install only what serving needs
#               (no test extra: no playwright, moto, schemathesis)
#   make run    start the service (.venv/bin/yorisoi serve $(ARGS)) after `make runtime`,
#               e.g. make run ARGS="--host 0.0.0.0 --port 9000"
#   make test   run the test suite on two xdist workers (first installing
#               Debian's chromium for the console's browser tests, as root);
#               extra pytest arguments go in PYTEST_ARGS, e.g.
#               make test PYTEST_ARGS='-k tenants -x'
#   make test-citus  the Citus tests (tests/citus, skipped by `make test`): builds Citus
#               from ../shared/vendor/ when citus.so is missing (once per machine, root),
#               then a throwaway coordinator and two workers (docs/citus.md)

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.yorisoi-installed
# The runtime install (no test extra) has a stamp of its own: `make run` on a
# fresh machine must not pull the test tools; `make test` installs everything.
RUNTIME_STAMP := $(VENV)/.yorisoi-runtime-installed
PYTEST_ARGS ?=

.PHONY: venv runtime run test browser oidc-provider

venv: $(STAMP)

# Create .venv when missing.  Where `python3 -m venv` cannot provide pip
# (Debian without python3-venv), the venv is created without pip and pip is
# installed into it by the interpreter's own pip.
define make_venv
	@if [ -z "$(PYTHON)" ]; then echo "make: python3.11 or python3 is required" >&2; exit 1; fi
	@if [ ! -x $(BIN)/python ]; then \
	  echo "creating $(VENV) with $(PYTHON)"; \
	  $(PYTHON) -m venv $(VENV) || { \
	    rm -rf $(VENV) && \
	    $(PYTHON) -m venv --without-pip $(VENV) && \
	    $(PYTHON) -m pip --python $(BIN)/python install --disable-pip-version-check pip; \
	  }; \
	fi
endef

# The stamps live inside .venv, so deleting .venv also forces a reinstall.
$(STAMP): pyproject.toml
	$(make_venv)
	$(BIN)/python -m pip install --disable-pip-version-check -e '.[test]'
	@touch $@ $(RUNTIME_STAMP)

runtime: $(RUNTIME_STAMP)

# The test install includes the runtime one: an up-to-date test stamp will do.
$(RUNTIME_STAMP): pyproject.toml
	$(make_venv)
	@if [ ! $(STAMP) -nt pyproject.toml ]; then \
	  $(BIN)/python -m pip install --disable-pip-version-check -e . ; \
	fi
	@touch $@

run: runtime
	$(BIN)/yorisoi serve $(ARGS)

# The console's browser tests drive Debian's Chromium; its screenshots need CJK fonts.
# As root on Debian, install them when missing (CI machines start without them).
browser:
	@if { [ ! -x /usr/bin/chromium ] || ! fc-list :lang=ja 2>/dev/null | grep -q . ; } \
	    && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian's chromium and fonts-noto-cjk"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      chromium fonts-noto-cjk; } >/dev/null 2>&1 || echo "make: apt-get could not install chromium" >&2; \
	fi

# The certified OpenID Connect provider the console's tests sign in at
# (tests/oidc_provider/: panva's oidc-provider, pinned by its package-lock.json).
OIDC_PROVIDER := tests/oidc_provider
oidc-provider: $(OIDC_PROVIDER)/node_modules/.package-lock.json

$(OIDC_PROVIDER)/node_modules/.package-lock.json: $(OIDC_PROVIDER)/package-lock.json
	cd $(OIDC_PROVIDER) && npm ci --no-audit --no-fund

test: venv browser oidc-provider
	$(BIN)/python -m pytest -n 2 -q $(PYTEST_ARGS)

# Citus (docs/citus.md): serial, one session-wide cluster of three nodes.
.PHONY: test-citus
test-citus: venv
	tests/citus/build_citus.sh
	YORISOI_CITUS_TESTS=1 $(BIN)/python -m pytest -q -p no:xdist tests/citus $(PYTEST_ARGS)
