#!/usr/bin/env bash
# Installs every Debian package that building, running and testing redline need.
# Idempotent: when everything is already there it prints nothing and exits 0.
# No daemon it installs is started: nginx, bird2 and prometheus would otherwise start in the root
# network namespace (the tests run their own, inside namespaces they create).
set -euo pipefail

PACKAGES=(
  # build
  build-essential meson ninja-build pkg-config
  # DPDK 22.11 (headers, libraries, PMDs, testpmd; dpdk-devbind.py for real NICs)
  dpdk dpdk-dev libdpdk-dev
  # libraries (libpcap-dev: libdpdk.pc requires it; libtbb-dev: meson.build's dependency('tbb'))
  libtbb-dev libgtest-dev libbenchmark-dev libtomlplusplus-dev libcli11-dev libpcap-dev
  # control plane: JSON on the control socket, the /metrics HTTP server, systemd's readiness
  # and watchdog (sd_notify)
  nlohmann-json3-dev libcivetweb-dev libsystemd-dev
  # the kernel side's routes, mirrored into redline's table ([ip] learn_routes)
  libnl-route-3-dev
  # promtool: the metrics page and the alert rules checked against Prometheus' own linter
  prometheus
  # test peers
  iproute2 iputils-ping iputils-arping traceroute python3-scapy procps nftables curl python3-prometheus-client
  # NAT tests and demo: an HTTP server outside, captures of what the outside sees
  nginx-light tcpdump
  # hostile-input tests: SYN floods
  hping3
  # veth offloads off (ethtool); BIRD beside redline through the kernel exception path; the
  # kernel-path demo's listener (scripts/demo_kernel.py falls back to Python without nc)
  ethtool bird2 netcat-openbsd
  # fuzzing (scripts/fuzz.sh): clang-14 with libFuzzer and the sanitizer runtimes; also the BPF
  # compiler of the AF_XDP tests' foreign XDP program
  clang-14 libclang-rt-14-dev
)

# The service each package starts when installed, where one does.
declare -A SERVICE_OF=([nginx-light]=nginx [bird2]=bird [prometheus]=prometheus)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: need root to install: ${missing[*]}" >&2
  exit 1
fi

systemd_running() { [ -d /run/systemd/system ] && command -v systemctl >/dev/null; }

# Services to stop and disable after the install: those of packages this run installs, unless
# already enabled (then someone runs that daemon on purpose, and it is left alone).
quiet=()
for p in "${missing[@]}"; do
  unit=${SERVICE_OF[$p]:-}
  [ -n "$unit" ] || continue
  if systemd_running && systemctl is-enabled --quiet "$unit" 2>/dev/null; then continue; fi
  quiet+=("$unit")
done

# invoke-rc.d and deb-systemd-invoke ask /usr/sbin/policy-rc.d before a package's scripts start
# a service; exit 101 means "not allowed". Only ours is removed afterwards: one that was already
# there (a container image's, an administrator's) stays, and decides.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  trap 'rm -f "$policy"' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  printf '#!/bin/sh\n# Written by redline scripts/setup.sh while it installs packages; removed after.\nexit 101\n' >"$policy"
  chmod 0755 "$policy"
fi

echo "setup.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

# policy-rc.d kept them from starting now; the packages still enabled them for the next boot.
if [ ${#quiet[@]} -gt 0 ] && systemd_running; then
  for unit in "${quiet[@]}"; do
    systemctl disable --now "$unit" >/dev/null 2>&1 || true
  done
fi
