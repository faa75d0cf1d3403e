#!/usr/bin/env bash
# The benchmark suite: builds, then runs perf/bench.py (see its --help), printing one table of
# every path's rate per core, cycles per packet and ratio to the baseline measured in the same
# run. Takes about 8 minutes on a 2-vCPU VM; --smoke takes about one.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/bench.sh: run as root (it creates network namespaces and veth pairs)" >&2
  exit 1
fi
scripts/build.sh
exec /usr/bin/python3 perf/bench.py "$@"
