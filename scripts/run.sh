#!/usr/bin/env bash
# The demo: builds redline if needed, creates two Linux hosts in network namespaces joined to
# redline by net_tap ports, shows ping and traceroute through it, runs until Ctrl-C, cleans up.
# `scripts/run.sh nat`: the NAT demo instead (scripts/demo_nat.py, examples/nat.toml).
# `scripts/run.sh kernel`: a host reaches an `nc` listener beside redline through the kernel
# exception path (scripts/demo_kernel.py, examples/kernel.toml).
# `scripts/run.sh tcp`: a Linux host's 32 MiB echoed by redline's own TCP with matching sha256,
# then through 2 % loss, the source service, UDP echo, show connections (scripts/demo_tcp.py,
# examples/tcp.toml).
# Must run as root. DEMO_SECONDS=N stops it after N seconds instead of waiting for Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/run.sh: run as root (it creates network namespaces and tap devices)" >&2
  exit 1
fi
scripts/build.sh dpdk_app/redline
exec /usr/bin/python3 scripts/demo.py "$@"
