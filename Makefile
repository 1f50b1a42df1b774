# Two commands set up everything on a fresh machine:
#   make run    create .venv, install, migrate, start the appliance on SQLite under ./data
#   make test   install what the tests need (Python packages from the lock, Debian's chromium,
#               chromium-driver, PostgreSQL, Docker, debootstrap, Node.js), build the image and
#               the StartOS 0.4 bundle, then run the whole suite
#               (after `make lint`: ruff, mypy, the import contract, hadolint)
# Other targets: lint, mutation (test strength of the pure rules), bench, lock, wheelhouse, image, startos (the 0.4 checks), pack (both
# StartOS packages; the default goal, as manifest.yaml's `build: ["make"]` says), clean.
.DEFAULT_GOAL := pack
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
PYTEST_ARGS ?=

.PHONY: run test install install-test system-test-deps docker-daemon bench lint mutation lock \
	wheelhouse image startos pack clean

# --- Python: every version comes from the locks -----------------------------------------------
# pyproject.toml declares the direct dependencies; requirements/*.lock pin every transitive
# version with the hashes of its files (`make lock` regenerates them). pip installs only what
# the lock names, checks every hash, and resolves nothing itself.
$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements/runtime.lock pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --require-hashes --no-deps -r requirements/runtime.lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

$(TEST_STAMP): requirements/test.lock $(STAMP)
	$(PY) -m pip install --quiet --require-hashes --no-deps -r requirements/test.lock
	touch $@

install: $(STAMP)
install-test: $(TEST_STAMP)

# uv resolves for every platform at once (--universal), so one lock serves x86_64 and aarch64.
UV_VERSION := 0.13.9
UV_COMPILE = $(VENV)/bin/uv pip compile pyproject.toml --universal --python-version 3.11 \
	--generate-hashes --native-tls --quiet --custom-compile-command "make lock"
lock: | $(PY)
	$(PY) -m pip install --quiet "uv==$(UV_VERSION)"
	$(UV_COMPILE) -o requirements/runtime.lock
	$(UV_COMPILE) --extra test -c requirements/runtime.lock -o requirements/test.lock

run: install
	$(PY) -m appsrc migrate
	$(PY) -m appsrc serve

# --- the test machine -------------------------------------------------------------------------
# Browser tests need Debian's chromium + chromium-driver (never a downloaded browser), the
# PostgreSQL tests a server binary, the image tests Docker and debootstrap (the base image is
# made from Debian's packages where no registry serves it), the StartOS 0.4 checks Node.js and
# rsync (its backups).
# As root (CI) whatever is missing is installed here; nothing is skipped for want of it.
# command:Debian package, for what is missing only (a Docker engine from elsewhere is kept).
SYSTEM_PACKAGES := chromium:chromium chromedriver:chromium-driver dockerd:docker.io \
	debootstrap:debootstrap rsync:rsync node:nodejs npm:npm
system-test-deps:
	@export PATH="$$PATH:/usr/sbin:/sbin"; missing=""; \
	for pair in $(SYSTEM_PACKAGES); do \
	    command -v $${pair%%:*} >/dev/null || missing="$$missing $${pair#*:}"; done; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	    echo "installing (apt-get):$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else \
	    echo "error: missing$$missing; install them (or run as root on Debian)" >&2; exit 1; \
	fi
	@$(MAKE) --no-print-directory docker-daemon

# Start Docker's engine when it is not running (CI machines have no init system for it).
docker-daemon:
	@export PATH="$$PATH:/usr/sbin:/sbin"; docker info >/dev/null 2>&1 && exit 0; \
	[ "$$(id -u)" = "0" ] || { echo "error: Docker's engine is not running" >&2; exit 1; }; \
	echo "starting dockerd"; \
	nohup dockerd >/var/log/dockerd.log 2>&1 & \
	for _ in $$(seq 60); do docker info >/dev/null 2>&1 && exit 0; sleep 0.5; done; \
	echo "error: dockerd did not start; see /var/log/dockerd.log" >&2; tail -5 /var/log/dockerd.log >&2; exit 1

test: lint system-test-deps image startos
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

# Mutation testing of the pure rules (matcher, addresses, direction, digest builder, the
# scheduler's decision, reply recipients), each against its own tests: scores per rule, goal
# 90 %. Minutes on two cores; not part of `make test`.
mutation: install-test
	$(PY) tools/mutation.py

bench: install-test system-test-deps  # chromium for search.py --browser
	$(PY) bench/capture.py
	$(PY) bench/search.py --browser
	$(PY) bench/digest.py
	$(PY) bench/parse_fuzz.py
	$(PY) bench/fuzz_pipeline.py

# The gate `make test` passes first: lint and format (ruff), types (mypy, strict on the pure
# rules and the read models), the layer contract (import-linter), the Dockerfile (hadolint).
# All configured in pyproject.toml; docs/architecture.md explains the layers.
lint: install-test
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports
	$(VENV)/bin/hadolint Dockerfile

# --- the image --------------------------------------------------------------------------------
# One Dockerfile for both packages. Its Python dependencies come from build/wheelhouse/: the
# lock's wheels for CPython 3.11 on x86_64 and aarch64 (manylinux up to glibc 2.36, Debian
# bookworm's), downloaded here with every hash checked, so the build itself needs only
# Debian's archive.
IMAGE      := ir-mail-desk:local
BASE_IMAGE := $(shell sed -n 's/^FROM \([^ ]*\)\( .*\)\{0,1\}$$/\1/p' Dockerfile | head -1)
WHEELHOUSE := build/wheelhouse
WHEEL_ARCHES := x86_64 aarch64
wheel_platforms = $(foreach v,36 35 34 33 32 31 30 29 28 27 26 25 24 23 22 21 20 19 18 17,\
	--platform manylinux_2_$(v)_$(1)) --platform manylinux2014_$(1)

$(WHEELHOUSE)/.complete: requirements/runtime.lock | $(PY)
	rm -rf $(WHEELHOUSE)
	$(foreach arch,$(WHEEL_ARCHES),$(PY) -m pip download --quiet --dest $(WHEELHOUSE) \
	    --only-binary=:all: --no-deps --require-hashes -r requirements/runtime.lock \
	    --python-version 3.11 --implementation cp --abi cp311 $(call wheel_platforms,$(arch)) &&) true
	touch $@

wheelhouse: $(WHEELHOUSE)/.complete

# The base image is pulled when a registry serves it, else made from Debian's packages.
image: wheelhouse
	@docker image inspect $(BASE_IMAGE) >/dev/null 2>&1 \
	    || docker pull --quiet $(BASE_IMAGE) >/dev/null 2>&1 \
	    || image/debian-base-image $(BASE_IMAGE)
	@echo "docker build --network host --tag $(IMAGE) . (log: build/image.log)"
	@DOCKER_BUILDKIT=0 docker build --network host --tag $(IMAGE) . >build/image.log 2>&1 \
	    || { tail -40 build/image.log >&2; exit 1; }
	@echo "$(IMAGE): $$(docker image inspect -f '{{.Size}}' $(IMAGE) | numfmt --to=si)B"

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache node_modules javascript dist docker-images

# --- the StartOS 0.4 package (startos/) ---------------------------------------------------------
# npm ci from package-lock.json, then the checks Start9's own s9pk.mk runs before it packs:
# tsc, the SDK's lint, and the ncc bundle (javascript/index.js) StartOS 0.4 loads.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

javascript/index.js: node_modules/.installed tsconfig.json $(shell find startos -type f -name '*.ts')
	npm run --silent check
	npm run --silent lint
	@mkdir -p build
	npm run --silent build >build/ncc.log 2>&1 || { cat build/ncc.log >&2; exit 1; }

startos: javascript/index.js

# --- release: both packages ---------------------------------------------------------------------
# On a release machine with Start9's tools, `make pack` (or plain `make`, the manifest's
# `build`) writes dist/startos-0.4/ir-mail-desk.s9pk (start-cli, for StartOS 0.4) and
# dist/startos-0.3.5/ir-mail-desk.s9pk (start-sdk, for StartOS 0.3.5), and dist/SHA256SUMS.
# start-cli builds the image for each architecture from the same Dockerfile; the 0.3.5 package
# takes docker-images/<arch>.tar (Docker buildx, QEMU binfmt for the foreign architecture).
# Neither tool is on our build machines (start-cli and start-sdk come from Start9's releases
# only): `make test` checks everything else about both packages.
PKG_ID      := $(shell sed -n 's/^id: *//p' manifest.yaml 2>/dev/null)
PKG_VERSION := $(shell sed -n 's/^version: *"\{0,1\}\([^"]*\)"\{0,1\}/\1/p' manifest.yaml 2>/dev/null)
IMAGE_INPUTS := Dockerfile .dockerignore docker_entrypoint.sh pyproject.toml requirements/runtime.lock \
	start9/write-properties start9/setup-status \
	$(shell find appsrc start9/lib start9/actions start9/health -type f ! -name '*.pyc' 2>/dev/null)
PACKAGE_ASSETS := start9/icon.png start9/LICENSE start9/instructions.md
S9PK_04  := dist/startos-0.4/$(PKG_ID).s9pk
S9PK_035 := dist/startos-0.3.5/$(PKG_ID).s9pk

pack: dist/SHA256SUMS

dist/SHA256SUMS: $(S9PK_04) $(S9PK_035)
	cd dist && sha256sum startos-0.4/$(PKG_ID).s9pk startos-0.3.5/$(PKG_ID).s9pk >SHA256SUMS
	@cat $@

$(S9PK_04): javascript/index.js $(WHEELHOUSE)/.complete $(IMAGE_INPUTS) $(PACKAGE_ASSETS)
	@command -v start-cli >/dev/null || { echo "error: needs start-cli (Start9's packaging CLI for StartOS 0.4)" >&2; exit 1; }
	mkdir -p $(@D)
	start-cli s9pk pack --icon start9/icon.png --license start9/LICENSE \
	    --instructions start9/instructions.md -o $@

docker-images/x86_64.tar: DOCKER_PLATFORM := linux/amd64
docker-images/aarch64.tar: DOCKER_PLATFORM := linux/arm64
docker-images/%.tar: $(WHEELHOUSE)/.complete $(IMAGE_INPUTS)
	@docker buildx version >/dev/null 2>&1 || { echo "error: needs Docker with buildx" >&2; exit 1; }
	mkdir -p docker-images
	docker buildx build --tag start9/$(PKG_ID)/main:$(PKG_VERSION) --platform=$(DOCKER_PLATFORM) \
	    -o type=docker,dest=$@ .

$(S9PK_035): manifest.yaml $(PACKAGE_ASSETS) docker-images/x86_64.tar docker-images/aarch64.tar
	@command -v start-sdk >/dev/null || { echo "error: needs start-sdk (Start9's packaging SDK for StartOS 0.3.5)" >&2; exit 1; }
	start-sdk pack
	start-sdk verify s9pk $(PKG_ID).s9pk
	mkdir -p $(@D)
	mv $(PKG_ID).s9pk $@
