#!/usr/bin/env bash
# The soak (not in CI): redline with 4 workers, impairment on, for SOAK_SECONDS (default 600)
# of mixed traffic — router, TCP, UDP, SYN floods and lying MSS options — then mbufs in use and
# connections compared with the start and redline's resident memory reported
# (tests/integration/soak.py says what each round does). Must run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/soak.sh: run as root (network namespaces, taps)" >&2
  exit 1
fi
scripts/build.sh
exec /usr/bin/python3 tests/integration/soak.py
