#!/usr/bin/env bash
# Make sure external tools needed by some tests are installed (Debian/Ubuntu only).
#
#   scripts/ensure-tools.sh prometheus alertmanager chromium blackbox
#
#   prometheus    -> prometheus, promtool             (package prometheus)
#   alertmanager  -> prometheus-alertmanager, amtool  (package prometheus-alertmanager)
#   chromium      -> chromium                         (package chromium)
#   blackbox      -> prometheus-blackbox-exporter     (package prometheus-blackbox-exporter)
#
# Idempotent: a tool whose binaries are already present is left alone. It installs only when
# running as root with apt-get available, runs `apt-get update` at most once, and always exits 0:
# the tests decide whether a missing tool is a skip or a failure (see test/helpers/tools.ts).

set -u

say() { printf 'ensure-tools: %s\n' "$*"; }

have_all() {
  local bin
  for bin in "$@"; do
    command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/bin/$bin" ] || [ -x "/usr/local/bin/$bin" ] || return 1
  done
  return 0
}

if [ "$#" -eq 0 ]; then
  say "usage: $0 prometheus|alertmanager|chromium|blackbox ..."
  exit 0
fi

packages=()
for tool in "$@"; do
  case "$tool" in
    prometheus)   bins=(prometheus promtool);              pkg=prometheus ;;
    alertmanager) bins=(prometheus-alertmanager amtool);   pkg=prometheus-alertmanager ;;
    # With a CJK font, so the Chinese labels in the screenshots are readable.
    chromium)     bins=(chromium);                          pkg="chromium fonts-wqy-microhei" ;;
    blackbox)     bins=(prometheus-blackbox-exporter);      pkg=prometheus-blackbox-exporter ;;
    *) say "unknown tool '$tool' (known: prometheus alertmanager chromium blackbox); ignored"; continue ;;
  esac
  if have_all "${bins[@]}"; then
    say "$tool: already installed (${bins[*]})"
  else
    say "$tool: missing (${bins[*]}), needs Debian package $pkg"
    read -r -a pkgs <<< "$pkg"
    packages+=("${pkgs[@]}")
  fi
done

if [ "${#packages[@]}" -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  say "not root: cannot install ${packages[*]}; run: sudo apt-get install -y --no-install-recommends ${packages[*]}"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  say "apt-get not found: install ${packages[*]} with your system's package manager"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
# Wait for another apt/dpkg run (e.g. an install already in progress) instead of failing at once.
apt_opts=(-o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)

say "apt-get update"
if ! apt-get "${apt_opts[@]}" update -q >/dev/null; then
  say "apt-get update failed; trying to install from the existing package lists"
fi

say "apt-get install -y --no-install-recommends ${packages[*]}"
if apt-get "${apt_opts[@]}" install -y -q --no-install-recommends "${packages[@]}" >/dev/null; then
  say "installed ${packages[*]}"
else
  say "could not install ${packages[*]} (see the apt-get errors above)"
fi
exit 0
