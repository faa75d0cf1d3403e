#!/usr/bin/env bash
# Installs what is missing, builds, runs every test: unit (no EAL), DPDK (EAL on vdevs, no
# hugepages) and integration (the real binary with Linux hosts in network namespaces, 1 and 4
# workers). Ends with the line "N passed, N failed". Must run as root (namespaces, taps).
set -uo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/test.sh: run as root (it creates network namespaces and tap devices)" >&2
  exit 1
fi
scripts/build.sh || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }

passed=0
failed=0
log=$(mktemp -d /tmp/redline-test.XXXXXX)

# GoogleTest binaries: count from their XML so every test case counts once.
run_gtest() {
  local name=$1
  shift
  echo "== $name"
  "$@" --gtest_output="xml:$log/$name.xml" >"$log/$name.out" 2>&1
  local rc=$?
  grep -E '^\[  (FAILED|PASSED) |^\[==========\]' "$log/$name.out" | tail -3
  if [ -f "$log/$name.xml" ]; then
    local tests failures errors
    tests=$(grep -o 'tests="[0-9]*"' "$log/$name.xml" | head -1 | grep -o '[0-9]*')
    failures=$(grep -o 'failures="[0-9]*"' "$log/$name.xml" | head -1 | grep -o '[0-9]*')
    errors=$(grep -o 'errors="[0-9]*"' "$log/$name.xml" | head -1 | grep -o '[0-9]*')
    passed=$((passed + tests - failures - errors))
    failed=$((failed + failures + errors))
    [ "$failures" -gt 0 ] && grep -E '^\[  FAILED  \]|Failure' -A3 "$log/$name.out" | head -40
  else
    echo "$name did not run to completion (rc=$rc):"
    tail -20 "$log/$name.out"
    failed=$((failed + 1))
  fi
  if [ $rc -ne 0 ] && [ -f "$log/$name.xml" ] && [ "$(grep -o 'failures="[0-9]*"' "$log/$name.xml" | head -1 | grep -o '[0-9]*')" = 0 ]; then
    echo "$name exited with $rc"
    failed=$((failed + 1))
  fi
}

run_gtest unit build/tests/unit_tests
run_gtest dpdk build/tests/dpdk_tests

# Twice: every test with taps as the router's links, then the router's, control and kernel path
# tests again with AF_XDP links (veth pairs; the NAT tests stay on taps and are left out).
for ports in tap afxdp; do
  echo "== integration ($ports)"
  /usr/bin/python3 tests/integration/run.py --ports "$ports" 2>&1 | tee "$log/integration-$ports.out"
  line=$(grep -E '^integration: [0-9]+ passed, [0-9]+ failed' "$log/integration-$ports.out" | tail -1)
  if [ -n "$line" ]; then
    passed=$((passed + $(echo "$line" | awk '{print $2}')))
    failed=$((failed + $(echo "$line" | awk '{print $4}')))
  else
    echo "integration tests ($ports) did not report a result"
    failed=$((failed + 1))
  fi
done

# Benchmark smoke run: the generator, redline and the table work end to end (not a timed test:
# it checks that figures come out, never what they are).
echo "== bench smoke"
if /usr/bin/python3 perf/bench.py --smoke --only memif,icmp >"$log/bench.out" 2>&1 &&
   grep -qE '^\| l3fwd/memif \| redline, 1 worker \| [0-9]+\.[0-9]+ \| [0-9]+ ' "$log/bench.out" &&
   grep -qE '^\| icmp-echo/memif \| redline, 1 worker \| [0-9]+\.[0-9]+ ' "$log/bench.out"; then
  grep '^|' "$log/bench.out"
  passed=$((passed + 1))
else
  echo "FAIL bench smoke:"
  tail -30 "$log/bench.out"
  failed=$((failed + 1))
fi

rm -rf "$log"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
