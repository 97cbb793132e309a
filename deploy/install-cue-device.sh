#!/usr/bin/env bash
# Install the athlete's cue device on a Pi Zero 2 W (Raspberry Pi OS Lite, bookworm).
#
#   sudo deploy/install-cue-device.sh --wheel stridesync_cue-0.1.0-py3-none-any.whl \
#        --broker 192.168.4.1:1883 --athlete 3 --password-file cue-3.pw
#   sudo deploy/install-cue-device.sh --rollback
#
# The password is the Pi's /etc/stridesync/mqtt/cue-ATHLETE.pw. Only what the cue
# device needs is installed: the stridesync-cue package (built by
# `pip wheel --no-deps cue_device/`) and what it needs, aiomqtt and paho-mqtt (no
# numpy on a Pi Zero), plus espeak-ng and alsa-utils.
# Running it again changes nothing; a new --athlete or --broker rewrites cue.env.
#
# Options: --wheel FILE | --version V, --release NAME, --pip-option OPT,
#          --broker HOST:PORT, --athlete ID, --password-file F, --rollback,
#          --root DIR (install into DIR: no apt, no systemctl), --no-start
set -euo pipefail
shopt -s lastpipe

PROG=stridesync-cue-install
DIST=stridesync-cue  # the distribution --version installs from the index
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=deploy/lib.sh
. "$SRC/lib.sh"

WHEEL="" VERSION="" RELEASE="" BROKER="" ATHLETE="" PWFILE="" ROLLBACK=0 NO_START=0
PIP_OPTS=()
while [ $# -gt 0 ]; do
    release_option "$@"
    if [ "$WORDS" -gt 0 ]; then shift "$WORDS"; continue; fi
    case "$1" in
        --broker) BROKER=$2; shift 2 ;;
        --athlete) ATHLETE=$2; shift 2 ;;
        --password-file) PWFILE=$2; shift 2 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done
[ "$ROOT" = / ] && ROOT=""
need_root
OPT="$ROOT/opt/stridesync-cue"
ETC="$ROOT/etc/stridesync-cue"
CHANGED=0

if [ "$ROLLBACK" = 1 ]; then
    rollback_release "$OPT"
    restart_units stridesync-cue.service
    exit 0
fi

[[ "$BROKER" =~ ^[A-Za-z0-9.:-]+:[0-9]+$ ]] || die "--broker HOST:PORT is needed"
[[ "$ATHLETE" =~ ^[0-9]+$ ]] || die "--athlete ID (a number) is needed"
[ -s "$PWFILE" ] || die "--password-file: the cue device's MQTT password (cue-$ATHLETE.pw on the Pi)"
resolve_release

ensure_packages python3-venv espeak-ng alsa-utils

ensure_user stridesync-cue /var/lib/stridesync-cue audio
CUEGRP="0:$(id_of group stridesync-cue)"
ensure_dir "$OPT" 0755 0:0
ensure_dir "$OPT/releases" 0755 0:0
# The cue package and its own dependencies (aiomqtt, paho-mqtt): no numpy on a Pi Zero.
install_release "$OPT" "$RELEASE" "$MARKER cue" "${PIP_OPTS[@]}" "${SOURCE[@]}"
switch_release "$OPT" "$RELEASE"

ensure_dir "$ETC" 0750 "$CUEGRP"
put_file "$PWFILE" "$ETC/mqtt.pw" 0640 "$CUEGRP"
printf 'BROKER=%s\nATHLETE=%s\nMQTT_USER=cue-%s\n' "$BROKER" "$ATHLETE" "$ATHLETE" \
    | put_text "$ETC/cue.env" 0644 0:0
put_file "$SRC/systemd/stridesync-cue.service" "$ROOT/etc/systemd/system/stridesync-cue.service" 0644 0:0

if [ "$CHANGED" = 1 ]; then
    restart_units stridesync-cue.service
    say "done: the cue device plays athlete $ATHLETE's cues from $BROKER"
    say "check: journalctl -u stridesync-cue -f, and /var/log/stridesync-cue/cues.jsonl"
else
    say "nothing to change"
fi
