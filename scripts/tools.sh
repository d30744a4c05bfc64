#!/usr/bin/env bash
# scripts/tools.sh — command-line tools that kafka2pg's tests use, installed
# from Debian's packages when missing.
#
# Usage:
#   scripts/tools.sh promtool    print the path of promtool (Debian's
#                                `prometheus` package), installing it first
#                                when it is not on PATH
#   scripts/tools.sh systemd-analyze
#                                the same for systemd-analyze (Debian's
#                                `systemd` package)
#
# Only the path goes to stdout; progress goes to stderr. Idempotent: a second
# run only looks the tool up. Installing needs root or password-less sudo (CI
# runs as root on a fresh Debian machine); without either it exits 1 and says
# how to install it by hand.
set -euo pipefail

log() { printf '[tools] %s\n' "$*" >&2; }
die() { printf '[tools] ERROR: %s\n' "$*" >&2; exit 1; }

SUDO=()
need_priv() {
  if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    die "installing $1 needs root or password-less sudo; run: sudo apt-get install -y --no-install-recommends $2"
  fi
}

# apt_install PACKAGE...: install without recommends, waiting for a dpkg lock
# held by another installer; refresh the package lists once if the first try
# fails (a fresh machine has none).
apt_install() {
  local apt=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300)
  if "${apt[@]}" install -y --no-install-recommends "$@" </dev/null >&2; then
    return 0
  fi
  log "apt-get install $* failed; running apt-get update and trying again"
  "${apt[@]}" update </dev/null >&2 || die "apt-get update failed"
  "${apt[@]}" install -y --no-install-recommends "$@" </dev/null >&2 || die "apt-get install $* failed"
}

tool_promtool() {
  if ! command -v promtool >/dev/null 2>&1; then
    need_priv promtool prometheus
    log "installing promtool (Debian package prometheus)"
    apt_install prometheus
  fi
  command -v promtool >/dev/null 2>&1 || die "promtool is still missing after installing prometheus"
  command -v promtool
}

tool_systemd_analyze() {
  if ! command -v systemd-analyze >/dev/null 2>&1; then
    need_priv systemd-analyze systemd
    log "installing systemd-analyze (Debian package systemd)"
    apt_install systemd
  fi
  command -v systemd-analyze >/dev/null 2>&1 || die "systemd-analyze is still missing after installing systemd"
  command -v systemd-analyze
}

case "${1:-}" in
  promtool) tool_promtool ;;
  systemd-analyze) tool_systemd_analyze ;;
  *)
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
