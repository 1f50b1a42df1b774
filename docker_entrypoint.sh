#!/bin/bash
# StartOS `main` for IR Mail Desk: prepare the data volume, export the settings the actions
# wrote, migrate the database, write the properties, then serve the dashboard under tini.
# Arguments, when given, run instead of the server (debugging and tests), after the same steps.
#
# Runs as root so it can own the volume StartOS mounts at /data; the app itself runs as the
# unprivileged $CRM_APP_USER (created in the Dockerfile). Actions run as root in their own
# containers and hand what they write to the data dir's owner; anything else (a restored
# backup, a file made by hand) is re-owned here at every start.
# Everything honours CRM_DATA_DIR in place of /data so tests can run this on a temp dir.
set -euo pipefail

DATA="${CRM_DATA_DIR:-/data}"
START9_DIR="${CRM_START9_DIR:-/opt/start9}"
APP_USER="${CRM_APP_USER:-app}"
export CRM_DATA_DIR="$DATA"
# Demo mode (a simulated team on a database of its own) is a developer feature of `make run`:
# the appliance always serves the real database, with or without a delegation key, so the admin
# made by "Create Admin" can sign in. The image sets it too, for the actions and health checks.
export CRM_DEMO=off
umask 077

log() { echo "entrypoint: $*" >&2; }

# --- the volume -----------------------------------------------------------------------------
# The app user can write /data; this script is root. A symlink where one of our directories
# should be could point a chmod or a write anywhere: refuse to start rather than follow it.
for dir in secrets start9 settings; do
    if [ -L "$DATA/$dir" ]; then
        log "refusing to start: $DATA/$dir is a symbolic link (move it away)"
        exit 1
    fi
done
mkdir -p "$DATA/secrets" "$DATA/start9"
chmod 700 "$DATA/secrets"
chmod -R go-rwx "$DATA/secrets"  # -R never follows links inside the tree

# What StartOS's backup (compat duplicity) leaves out: one path or glob per line, relative to
# the data root. Everything here is regenerated: the developer demo's own database (only made by
# `python -m appsrc demo`), the properties file (rewritten at start and by the health check)
# and interrupted atomic writes (.NAME.tmp-*, .NAME.lnk-*, *.tmp). Rewritten at every start, so
# an update of the package updates the list.
backupignore_tmp=$(mktemp "$DATA/.backupignore.tmp-XXXXXX")  # a new file, never a planted one
printf '%s\n' demo start9/stats.yaml '**.tmp' '**.tmp-*' '**.lnk-*' > "$backupignore_tmp"
mv -f "$backupignore_tmp" "$DATA/.backupignore"

as_app=()
if [ "$(id -u)" = 0 ] && app_uid=$(id -u "$APP_USER" 2>/dev/null); then
    app_gid=$(id -g "$APP_USER")
    # -h: secret sets hold symlinks (some dangle on purpose); never follow them.
    find "$DATA" -xdev \( ! -user "$app_uid" -o ! -group "$app_gid" \) \
        -exec chown -h "$app_uid:$app_gid" {} +
    app_home=$(getent passwd "$APP_USER" | cut -d: -f6)
    as_app=(setpriv --reuid="$app_uid" --regid="$app_gid" --init-groups
            env HOME="${app_home:-/tmp}" USER="$APP_USER")
else
    log "not root or no user '$APP_USER': running as $(id -un)"
fi

# --- settings from the files the actions wrote ----------------------------------------------
# The SMTP account is not exported: the app reads secrets/smtp/* each time it sends (they win
# over any inherited SMTP_*), so the password never sits in the process environment, where
# /proc/<pid>/environ and every child process could read it.
if [ -d "$DATA/secrets/smtp" ]; then
    unset SMTP_HOST SMTP_PORT SMTP_SECURITY SMTP_USERNAME SMTP_PASSWORD SMTP_FROM
fi
export CRM_DWD_KEY_FILE="${CRM_DWD_KEY_FILE:-$DATA/secrets/dwd/service_account.json}"
# "Configure Digest" (settings/digest/*, not secrets) is read at start only: its result asks for
# a restart. As with SMTP, a file wins over an inherited value; a field left empty has no file,
# so the app's default applies (the image sets none of these).
declare -A digest_env=([timezone]=CRM_TIMEZONE [llm-url]=CRM_LLM_URL [llm-model]=CRM_LLM_MODEL
                       [sender]=CRM_DIGEST_SENDER)
for field in "${!digest_env[@]}"; do
    file="$DATA/settings/digest/$field"
    if [ -f "$file" ]; then
        export "${digest_env[$field]}=$(cat "$file")"
    fi
done
# The fund's own domains are not exported: the app reads secrets/dwd/own_domains each time it
# matches, so rerunning "Configure Gmail delegation" applies without a restart.

# --- database and properties ----------------------------------------------------------------
log "applying database migrations"
"${as_app[@]}" python -m appsrc migrate >&2
"${as_app[@]}" python "$START9_DIR/write-properties" \
    || log "warning: properties not written (the capture health check retries)"

if [ "$#" -gt 0 ]; then
    exec "${as_app[@]}" "$@"
fi
log "starting the dashboard"
exec tini -- "${as_app[@]}" python -m appsrc serve
