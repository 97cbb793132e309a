#!/usr/bin/env bash
# Install the Debian packages the development tools and tests need, when missing.
# Idempotent: it does nothing when everything is already there.
set -euo pipefail

need=()
command -v cc >/dev/null 2>&1 || need+=(gcc libc6-dev)
command -v make >/dev/null 2>&1 || need+=(make)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
# the serial path's compiled part (firmware_bridge/speedups) needs the Python headers
python3 -c 'import os, sysconfig; os.stat(sysconfig.get_paths()["include"] + "/Python.h")' \
    >/dev/null 2>&1 || need+=(python3-dev)
command -v psql >/dev/null 2>&1 || need+=(postgresql-client)  # the PostgreSQL tests make a throwaway database
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto mosquitto-clients)  # cue tests run a real broker
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)  # spoken cues
command -v aplay >/dev/null 2>&1 || need+=(alsa-utils)  # the cue device plays through aplay
[ -x /usr/bin/chromium ] || need+=(chromium)  # the dashboard's browser tests (Playwright drives it)
command -v shellcheck >/dev/null 2>&1 || need+=(shellcheck)  # the deploy tests lint every script
command -v openssl >/dev/null 2>&1 || need+=(openssl)  # the club tests make a CA and certificates
# The sensor-node firmware: cross-compiled for the STM32F4 and run in QEMU (make firmware)
command -v arm-none-eabi-gcc >/dev/null 2>&1 || need+=(gcc-arm-none-eabi)
[ -f /usr/lib/picolibc/arm-none-eabi/picolibc.specs ] || need+=(picolibc-arm-none-eabi)
command -v qemu-system-arm >/dev/null 2>&1 || need+=(qemu-system-arm)

if [ ${#need[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "missing system packages: ${need[*]} (run: sudo apt-get install ${need[*]})" >&2
    exit 1
fi
echo "installing system packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}"
