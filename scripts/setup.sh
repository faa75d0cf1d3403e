#!/usr/bin/env bash
# Installs every Debian package that building, running and testing redline need.
# Idempotent: when everything is already there it prints nothing and exits 0.
set -euo pipefail

PACKAGES=(
  # build
  build-essential meson ninja-build pkg-config
  # DPDK 22.11 (headers, libraries, PMDs, testpmd)
  dpdk dpdk-dev libdpdk-dev
  # libraries
  libtbb-dev libgtest-dev libgmock-dev libbenchmark-dev libtomlplusplus-dev libcli11-dev libfmt-dev libpcap-dev
  # control plane: JSON on the control socket, the /metrics HTTP server
  nlohmann-json3-dev libcivetweb-dev
  # test peers
  iproute2 iputils-ping iputils-arping traceroute python3-scapy procps nftables curl python3-prometheus-client
  # NAT tests and demo: an HTTP server outside, captures of what the outside sees
  nginx-light tcpdump
  # hostile-input tests: SYN floods
  hping3
  # AF_XDP tests: veth offloads off (ethtool), BIRD beside redline through the exception path
  ethtool bird2 netcat-openbsd clang
  # fuzzing (scripts/fuzz.sh): clang-14 with libFuzzer and the sanitizer runtimes
  clang-14 libclang-rt-14-dev
)

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
echo "setup.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
