#!/usr/bin/env bash
# Installs Prometheus (`prometheus` and `promtool`) from Debian's package, for the
# integration test that runs a real Prometheus against the service and checks the
# rules (tests/integration/test_prometheus.py) and for deploy/grafana/render-local-run.sh.
#
#   deploy/prometheus/install.sh
#
# Idempotent: does nothing when both commands are already on PATH. Otherwise needs
# root (apt-get). The package's own service is never left running: its init script
# is kept from starting during the install, and stopped if something started it.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

if have prometheus && have promtool; then
  exit 0
fi
if ! have apt-get; then
  echo "install.sh: prometheus/promtool are missing and this is not a Debian-like system;" \
    "install Prometheus 2.x so that both commands are on PATH" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: prometheus/promtool are missing; run this as root" \
    "(sudo deploy/prometheus/install.sh) or install Debian's 'prometheus' package" >&2
  exit 1
fi

# invoke-rc.d and deb-systemd-invoke ask policy-rc.d whether they may start a
# service; 101 means "no". Only a policy file this script created is removed again.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  trap 'rm -f "$policy"' EXIT
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends prometheus

# Belt and braces: if a service manager started the daemon anyway, stop it.
if [ -d /run/systemd/system ] && have systemctl; then
  systemctl stop prometheus.service 2>/dev/null || true
  systemctl disable prometheus.service 2>/dev/null || true
elif [ -x /etc/init.d/prometheus ] && /etc/init.d/prometheus status >/dev/null 2>&1; then
  /etc/init.d/prometheus stop >/dev/null || true
fi

have prometheus && have promtool || {
  echo "install.sh: the prometheus package installed, but prometheus/promtool are not on PATH" >&2
  exit 1
}
echo "install.sh: $(prometheus --version 2>&1 | head -n1)" >&2
