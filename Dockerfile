# IR Mail Desk image for StartOS: x86_64 and aarch64 (`make docker-images` builds both).
#
# The base is pinned by tag. Pin its digest too when building on a machine that reaches the
# registry: `docker buildx imagetools inspect python:3.11.14-slim-bookworm`, then append
# `@sha256:<index digest>` to the FROM line (the index digest covers both architectures).
FROM python:3.11.14-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# tini forwards SIGTERM to the app and reaps children. setpriv, which drops root in the
# entrypoint, comes with util-linux in the base image.
RUN apt-get update \
    && apt-get install -y --no-install-recommends 'tini=0.19.0-1*' \
    && rm -rf /var/lib/apt/lists/*

# The app runs as this user; the entrypoint (root) gives it the /data volume.
RUN groupadd --system --gid 1000 app \
    && useradd --system --uid 1000 --gid app --home-dir /home/app --create-home \
        --shell /usr/sbin/nologin app

# Dependencies come from pyproject.toml, the one place versions are pinned. They are installed
# in their own layer (with a stand-in package) so a code change does not reinstall them.
WORKDIR /src
COPY pyproject.toml ./
RUN mkdir appsrc && touch appsrc/__init__.py \
    && pip install --no-cache-dir . \
    && pip uninstall --yes appsrc
COPY appsrc ./appsrc
RUN pip install --no-cache-dir --no-deps . \
    && rm -rf /src
WORKDIR /

# StartOS glue: the entrypoint, the actions, the health checks and the properties writer.
COPY docker_entrypoint.sh /usr/local/bin/docker_entrypoint.sh
COPY start9/lib /opt/start9/lib
COPY start9/actions /opt/start9/actions
COPY start9/health /opt/start9/health
COPY start9/write-properties /opt/start9/write-properties

# CRM_DEMO=off: the appliance never runs the developer demo (see docker_entrypoint.sh).
ENV CRM_DATA_DIR=/data \
    CRM_DEMO=off \
    CRM_HOST=0.0.0.0 \
    CRM_PORT=8050 \
    CRM_START9_DIR=/opt/start9 \
    CRM_APP_USER=app
EXPOSE 8050
ENTRYPOINT ["/usr/local/bin/docker_entrypoint.sh"]
