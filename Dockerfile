# IR Mail Desk: the one image of both StartOS packages (0.3.5's manifest.yaml and 0.4's
# startos/), for x86_64 and aarch64.
#
# It builds from Debian's packages and a wheelhouse only, so it builds on a machine that reaches
# Debian's archive and PyPI but no container registry:
# - the base is Debian's slim image; `make image` makes it from Debian's packages when no
#   registry serves it (image/debian-base-image);
# - Python comes from Debian (3.11 on bookworm), the dependencies from build/wheelhouse/, which
#   `make wheelhouse` downloads on the host for both architectures, every file checked against
#   the hashes in requirements/runtime.lock. pip never reaches a network inside the build.
# The final stage has no pip, no compiler and no wheelhouse.
#
# Debian's packages are not pinned to versions (hadolint DL3008): bookworm's archive carries one
# version of each, replaced by security updates, so a pin would stop the build at the next
# update; bookworm itself is the pin. Python's own dependencies are pinned, with hashes.

FROM debian:bookworm-slim AS build

# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3-venv \
    && rm -rf /var/lib/apt/lists/*

# Dependencies first, in their own layer: a code change does not reinstall them.
COPY requirements/runtime.lock /src/requirements/runtime.lock
COPY build/wheelhouse /wheelhouse
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --no-index --find-links=/wheelhouse \
        --require-hashes --no-deps --only-binary=:all: -r /src/requirements/runtime.lock

# The Google client ships discovery documents for every Google API (~100 MB); the app builds
# its Gmail client from gmail.v1.json alone (appsrc/gmail/client.py), offline.
RUN find /opt/venv/lib/python3.11/site-packages/googleapiclient/discovery_cache/documents \
        -type f ! -name gmail.v1.json -delete

COPY pyproject.toml /src/
COPY appsrc /src/appsrc
RUN /opt/venv/bin/pip install --no-cache-dir --no-index --no-deps --no-build-isolation /src \
    && /opt/venv/bin/pip uninstall --yes pip

FROM debian:bookworm-slim

# python3 is Debian's 3.11, the interpreter the venv was made with. tini forwards SIGTERM to
# the app and reaps children; setpriv, which drops root in the entrypoint, is in util-linux.
# ca-certificates: the digest's SMTP transport verifies the server's certificate.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 tini ca-certificates \
    && rm -rf /var/lib/apt/lists/* /var/cache/debconf/*-old /var/log/*

# The app runs as this user; the entrypoint (root) gives it the /data volume.
RUN groupadd --system --gid 1000 app \
    && useradd --system --uid 1000 --gid app --home-dir /home/app --create-home \
        --shell /usr/sbin/nologin app

COPY --from=build /opt/venv /opt/venv

# StartOS glue: the entrypoint, the 0.3.5 actions, the health checks and the properties writer.
COPY docker_entrypoint.sh /usr/local/bin/docker_entrypoint.sh
COPY start9/lib /opt/start9/lib
COPY start9/actions /opt/start9/actions
COPY start9/health /opt/start9/health
COPY start9/write-properties start9/setup-status /opt/start9/

# CRM_DEMO=off: the appliance never runs the developer demo (see docker_entrypoint.sh).
# PYTHONDONTWRITEBYTECODE: the container runs with a read-only root.
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CRM_DATA_DIR=/data \
    CRM_DEMO=off \
    CRM_HOST=0.0.0.0 \
    CRM_PORT=8050 \
    CRM_START9_DIR=/opt/start9 \
    CRM_APP_USER=app
EXPOSE 8050
ENTRYPOINT ["/usr/local/bin/docker_entrypoint.sh"]
