#!/usr/bin/env bash
# Installs and starts what the tests need, idempotently: a second run changes nothing and
# takes about a second. Called by `npm test` (and so by .ci/run).
#
# Packages come from Debian's archive only; services are started with the same commands the
# machine image uses (see docs/testing.md), never restarted when already running.
set -euo pipefail

log() { echo "provision: $*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# binary -> Debian package. Keep sorted; each line says which test needs it.
declare -A PACKAGES=(
  [mosquitto]=mosquitto          # integration: agents against a real broker
  [mosquitto_pub]=mosquitto-clients
  [pidstat]=sysstat              # bench: the proc tracer's peer
  [strace]=strace                # tracers: syscalls
)

missing=()
for bin in "${!PACKAGES[@]}"; do
  command -v "$bin" >/dev/null 2>&1 || missing+=("${PACKAGES[$bin]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  log "installing ${missing[*]}"
  # Refresh the package lists only when they are absent or older than a day.
  if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -1)" ]; then
    as_root apt-get update -qq
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Mosquitto on 127.0.0.1:1883: the shared broker the multi-node tests use.
if ! port_open 1883; then
  log "starting mosquitto"
  as_root mosquitto -d -c /etc/mosquitto/mosquitto.conf
  for _ in $(seq 50); do port_open 1883 && break; sleep 0.1; done
  port_open 1883 || { echo "provision: mosquitto did not start on 127.0.0.1:1883" >&2; exit 1; }
fi

log "ready"
