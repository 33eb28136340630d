# Helpers shared by scripts/provision.d/*.sh (sourced, not run).

log() { echo "provision: $*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# apt_need BINARY PACKAGE [BINARY PACKAGE ...]: installs each package whose binary is missing.
apt_need() {
  local missing=()
  while [ $# -gt 1 ]; do
    command -v "$1" >/dev/null 2>&1 || missing+=("$2")
    shift 2
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  apt_install "${missing[@]}"
}

# apt_install PACKAGE...: installs packages, refreshing the lists only when older than a day.
apt_install() {
  log "installing $*"
  if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -1)" ]; then
    as_root apt-get -o DPkg::Lock::Timeout=300 update -qq
  fi
  # Wait for a concurrent apt (another provisioning run, unattended upgrades) instead of failing.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "$@" >/dev/null
}

# wait_port PORT NAME: waits up to 30 s for a TCP port on loopback, or fails naming the service.
wait_port() {
  for _ in $(seq 300); do port_open "$1" && return 0; sleep 0.1; done
  echo "provision: $2 did not start on 127.0.0.1:$1" >&2
  return 1
}
