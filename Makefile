# Two commands set up everything on a fresh machine:
#   make run    create .venv, install, migrate, start the appliance on SQLite under ./data
#   make test   install what the tests need (Python packages, Debian's chromium and
#               chromium-driver, a PostgreSQL server), then run the whole suite
# `make` alone builds and verifies the StartOS package, as in Start9's wrapper repos (the
# manifest's `build: ["make"]`); it needs Docker and start-sdk, see the end of this file.
.DEFAULT_GOAL := verify
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
PYTEST_ARGS ?=

.PHONY: run test install install-test system-test-deps bench lint clean docker-images pack verify

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml $(STAMP)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

install: $(STAMP)
install-test: $(TEST_STAMP)

run: install
	$(PY) -m appsrc migrate
	$(PY) -m appsrc serve

# Browser tests need Debian's chromium + chromium-driver (never a downloaded browser) and the
# PostgreSQL tests a server binary; as root (CI) they are installed here when missing.
system-test-deps:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null \
	    && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	    echo "installing chromium, chromium-driver and postgresql (apt-get)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	        chromium chromium-driver postgresql >/dev/null; \
	else \
	    echo "note: chromium/chromium-driver/postgresql missing and not root: those tests will skip"; \
	fi

test: install-test system-test-deps
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

bench: install-test system-test-deps  # chromium for search.py --browser
	$(PY) bench/capture.py
	$(PY) bench/search.py --browser
	$(PY) bench/digest.py
	$(PY) bench/parse_fuzz.py
	$(PY) bench/fuzz_pipeline.py

lint: install-test
	$(PY) -m hadolint Dockerfile

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache

# --- StartOS package ---------------------------------------------------------------------------
# Needs Docker with buildx (and QEMU binfmt for the foreign architecture) and Start9's
# start-sdk. Neither exists on our build machines, so these targets are for release machines;
# everything else about the package (manifest rules, actions, entrypoint, health checks,
# Dockerfile lint) is tested directly by tests/startos.
#   make docker-images   docker-images/x86_64.tar and docker-images/aarch64.tar
#   make pack            ir-mail-desk.s9pk (start-sdk pack)
#   make verify          start-sdk verify s9pk on it
PKG_ID := $(shell sed -n 's/^id: *//p' manifest.yaml 2>/dev/null)
PKG_VERSION := $(shell sed -n 's/^version: *"\{0,1\}\([^"]*\)"\{0,1\}/\1/p' manifest.yaml 2>/dev/null)
# What goes into the image (see Dockerfile and .dockerignore).
IMAGE_INPUTS := Dockerfile .dockerignore docker_entrypoint.sh pyproject.toml start9/write-properties \
	$(shell find appsrc start9/lib start9/actions start9/health -type f ! -name '*.pyc' 2>/dev/null)

docker-images/x86_64.tar: DOCKER_PLATFORM := linux/amd64
docker-images/aarch64.tar: DOCKER_PLATFORM := linux/arm64
docker-images/%.tar: $(IMAGE_INPUTS)
	@docker buildx version >/dev/null 2>&1 || { echo "error: needs Docker with buildx" >&2; exit 1; }
	mkdir -p docker-images
	docker buildx build --tag start9/$(PKG_ID)/main:$(PKG_VERSION) --platform=$(DOCKER_PLATFORM) \
	    -o type=docker,dest=$@ .

docker-images: docker-images/x86_64.tar docker-images/aarch64.tar

$(PKG_ID).s9pk: manifest.yaml start9/instructions.md start9/icon.png start9/LICENSE \
		docker-images/x86_64.tar docker-images/aarch64.tar
	@command -v start-sdk >/dev/null || { echo "error: needs start-sdk (Start9's packaging SDK)" >&2; exit 1; }
	start-sdk pack

pack: $(PKG_ID).s9pk

verify: $(PKG_ID).s9pk
	start-sdk verify s9pk $(PKG_ID).s9pk
