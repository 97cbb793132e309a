#!/usr/bin/env bash
# Install or upgrade Stridesync on a Raspberry Pi (Raspberry Pi OS / Debian bookworm).
#
#   sudo deploy/install.sh --wheel stridesync-0.1.0-py3-none-any.whl   # a release file
#   sudo deploy/install.sh --version 0.1.0                             # a release from PyPI
#   sudo deploy/install.sh --rollback                                  # back to the previous one
#
# What it does (docs/install.md): system packages; a system user `stridesync` in
# the dialout group; the release in its own virtual environment under
# /opt/stridesync/releases/VERSION, switched to atomically (/opt/stridesync/current,
# the one before kept as /opt/stridesync/previous); the config from the commented
# template, with a new admin and viewer token and MQTT passwords (made once, never
# overwritten); Mosquitto with passwords and an ACL; the systemd unit; udev rules.
# Running it again changes nothing. Never a git checkout on the SD card.
#
# Options:
#   --wheel FILE        the release to install (a wheel built by `python -m build`)
#   --version V         or this version from the package index
#   --release NAME      name of the release directory (default: the version)
#   --pip-option OPT    passed to pip (repeatable), e.g. --pip-option=--no-index
#   --cue-devices N     MQTT users for N cue devices, cue-1 ... cue-N (default 4)
#   --rollback          switch back to the previous release and restart
#   --root DIR          install into DIR instead of / (image building, tests):
#                       no apt, no systemctl
#   --no-start          do not enable or restart services
set -euo pipefail
shopt -s lastpipe  # so a function at the end of a pipe can set CHANGED

PROG=stridesync-install
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=deploy/lib.sh
. "$SRC/lib.sh"

WHEEL="" VERSION="" RELEASE="" CUE_DEVICES=4 ROLLBACK=0 NO_START=0
PIP_OPTS=()
while [ $# -gt 0 ]; do
    release_option "$@"
    if [ "$WORDS" -gt 0 ]; then shift "$WORDS"; continue; fi
    case "$1" in
        --cue-devices) CUE_DEVICES=$2; shift 2 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done
[ "$ROOT" = / ] && ROOT=""
need_root

OPT="$ROOT/opt/stridesync"
ETC="$ROOT/etc/stridesync"
CHANGED=0
NEW_SECRETS=0

if [ "$ROLLBACK" = 1 ]; then
    rollback_release "$OPT"
    restart_units stridesync.service
    exit 0
fi

[[ "$CUE_DEVICES" =~ ^[0-9]+$ ]] || die "--cue-devices takes a number"
resolve_release

# --- system packages ------------------------------------------------------------------
ensure_packages python3-venv python3-dev gcc mosquitto mosquitto-clients

# --- user, release --------------------------------------------------------------------
ensure_user stridesync /var/lib/stridesync dialout
SVC=$(owner stridesync stridesync)
ROOTSVC="0:$(id_of group stridesync)"

ensure_dir "$OPT" 0755 0:0
ensure_dir "$OPT/releases" 0755 0:0
install_release "$OPT" "$RELEASE" "$MARKER" "${PIP_OPTS[@]}" "${SOURCE[@]}"
switch_release "$OPT" "$RELEASE"
ensure_dir "$ROOT/var/lib/stridesync" 0750 "$SVC"

# --- secrets (made once) --------------------------------------------------------------
ensure_dir "$ETC" 0750 "$ROOTSVC"
ensure_dir "$ETC/mqtt" 0750 "$ROOTSVC"
secret "$ETC/admin-token" 0600 0:0
secret "$ETC/viewer-token" 0600 0:0
secret "$ETC/mqtt/service.pw" 0640 "$ROOTSVC"
secret "$ETC/mqtt/hub.pw" 0600 0:0
for i in $(seq 1 "$CUE_DEVICES"); do
    secret "$ETC/mqtt/cue-$i.pw" 0600 0:0
done

hash_of() { printf 'sha256:%s' "$(tr -d '\n' < "$1" | sha256sum | cut -d' ' -f1)"; }

# --- config (written once from the template; yours afterwards) ------------------------
if [ ! -e "$ETC/stridesync.toml" ]; then
    node=$(tr -cd 'A-Za-z0-9._-' < "${ROOT:-}/etc/hostname" 2>/dev/null || true)
    sed -e 's|^host = "127.0.0.1"|host = "0.0.0.0"|' \
        -e "s|^admin_token_hashes = \[\]|admin_token_hashes = [\"$(hash_of "$ETC/admin-token")\"]|" \
        -e "s|^viewer_token_hashes = \[\]|viewer_token_hashes = [\"$(hash_of "$ETC/viewer-token")\"]|" \
        -e 's|^broker = ""|broker = "127.0.0.1:1883"|' \
        -e "s|^node = \"\" |node = \"${node:-stridesync}\" |" \
        -e 's|^username = ""|username = "service"|' \
        -e 's|^password_file = ""|password_file = "/etc/stridesync/mqtt/service.pw"|' \
        "$SRC/stridesync.toml" | put_text "$ETC/stridesync.toml" 0640 "$ROOTSVC"
fi
chmod 0640 "$ETC/stridesync.toml"
chown "$ROOTSVC" "$ETC/stridesync.toml"
PY="$OPT/current/venv/bin/python"
if "$PY" -c 'import pydantic_settings' 2>/dev/null; then
    "$PY" -c 'import sys; from service import config; config.load(sys.argv[1])' \
        "$ETC/stridesync.toml" || die "the config $ETC/stridesync.toml is not valid (see above)"
fi

# --- Mosquitto ------------------------------------------------------------------------
MQ_GROUP=0
grep -q '^mosquitto:' "$ROOT/etc/group" && MQ_GROUP=$(id_of group mosquitto)
put_file "$SRC/mosquitto/stridesync.conf" "$ROOT/etc/mosquitto/conf.d/stridesync.conf" 0644 0:0
{
    cat "$SRC/mosquitto/stridesync.acl.in"
    # The cue devices' lines from the contract the service and the devices share.
    "$PY" -m stridesync_cue.contract acl "$CUE_DEVICES"
} | put_text "$ROOT/etc/mosquitto/stridesync.acl" 0640 "0:$MQ_GROUP"
PASSWD="$ROOT/etc/mosquitto/stridesync.passwd"
if [ ! -s "$PASSWD" ] || [ "$NEW_SECRETS" = 1 ]; then
    command -v mosquitto_passwd >/dev/null || die "mosquitto_passwd is missing (apt install mosquitto)"
    tmp=$(mktemp)
    for f in "$ETC"/mqtt/*.pw; do
        user=$(basename "$f" .pw)
        mosquitto_passwd -b "$tmp" "$user" "$(cat "$f")" 2>/dev/null
    done
    chmod 0640 "$tmp"
    chown "0:$MQ_GROUP" "$tmp"
    mv -f "$tmp" "$PASSWD"
    say "wrote ${PASSWD#"$ROOT"} ($(wc -l < "$PASSWD") users)"
    CHANGED=1
fi

# --- systemd, udev --------------------------------------------------------------------
put_file "$SRC/systemd/stridesync.service" "$ROOT/etc/systemd/system/stridesync.service" 0644 0:0
if [ ! -e "$ROOT/etc/udev/rules.d/60-stridesync.rules" ]; then  # yours once written
    put_file "$SRC/udev/60-stridesync.rules" "$ROOT/etc/udev/rules.d/60-stridesync.rules" 0644 0:0
fi

if [ "$CHANGED" = 1 ]; then
    restart_units mosquitto.service stridesync.service
    if [ -z "$ROOT" ] && [ "$NO_START" = 0 ]; then
        udevadm control --reload
    fi
    say "done. Dashboard: http://$(cat "${ROOT:-}/etc/hostname" 2>/dev/null || echo raspberrypi).local:8000/"
    say "admin token: sudo cat /etc/stridesync/admin-token (viewer: /etc/stridesync/viewer-token)"
else
    say "nothing to change"
fi
