#!/usr/bin/env bash
# Installs what is missing, builds, runs every test: unit (no EAL), DPDK (EAL on vdevs, no
# hugepages) and integration (the real binary with Linux hosts in network namespaces, 1 and 4
# workers). Ends with the line "N passed, N failed". Must run as root (namespaces, taps).
#
#   scripts/test.sh              the release build (build/): everything, under 30 minutes here
#   scripts/test.sh --sanitize   an ASan+UBSan build with assertions on (build-asan/): the unit and
#                                DPDK tests, the tap integration suite with one worker, and a 20 s
#                                run of every fuzz target (scripts/fuzz.sh); .ci/run runs it after
#                                the plain run. Suppressions, each with its reason:
#                                tests/sanitizers/
set -uo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/test.sh: run as root (it creates network namespaces and tap devices)" >&2
  exit 1
fi
sanitize=false
case "${1:-}" in
  "") ;;
  --sanitize) sanitize=true ;;
  *) echo "usage: scripts/test.sh [--sanitize]" >&2; exit 2 ;;
esac

if $sanitize; then
  BUILD=build-asan
  scripts/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }
  if [ ! -f "$BUILD/build.ninja" ]; then
    # -O1 keeps the build and the run quick enough for CI; b_lundef=false as the sanitizers'
    # runtimes need; assertions on (b_ndebug=false): the timer wheel's and the engine's asserts run.
    meson setup "$BUILD" --buildtype=release -Doptimization=1 -Db_ndebug=false -Db_sanitize=address,undefined \
      -Db_lundef=false >/tmp/redline-asan-setup.$$.log 2>&1 ||
      { cat /tmp/redline-asan-setup.$$.log; echo "0 passed, 1 failed"; exit 1; }
  fi
  ninja -C "$BUILD" tests/unit_tests tests/dpdk_tests dpdk_app/redline dpdk_app/redlinectl >/tmp/redline-asan-build.$$.log 2>&1 ||
    { tail -40 /tmp/redline-asan-build.$$.log; echo "sanitizer build failed"; echo "0 passed, 1 failed"; exit 1; }
  rm -f /tmp/redline-asan-build.$$.log /tmp/redline-asan-setup.$$.log
  supp="$PWD/tests/sanitizers"
  # Any report fails the run: ASan aborts (no XML: counted as a failure), UBSan halts, leaks
  # make the exit code non-zero (the exit contract's tests check it).
  export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:halt_on_error=1:detect_odr_violation=0:suppressions=$supp/asan.supp"
  export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$supp/ubsan.supp"
else
  BUILD=build
  scripts/build.sh || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
fi

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

run_gtest unit "$BUILD/tests/unit_tests"
run_gtest dpdk "$BUILD/tests/dpdk_tests"

integration() {
  local label=$1
  shift
  echo "== integration ($label)"
  REDLINE_BIN="$PWD/$BUILD/dpdk_app/redline" /usr/bin/python3 tests/integration/run.py "$@" 2>&1 | tee "$log/integration-$label.out"
  local line
  line=$(grep -E '^integration: [0-9]+ passed, [0-9]+ failed' "$log/integration-$label.out" | tail -1)
  if [ -n "$line" ]; then
    passed=$((passed + $(echo "$line" | awk '{print $2}')))
    failed=$((failed + $(echo "$line" | awk '{print $4}')))
  else
    echo "integration tests ($label) did not report a result"
    failed=$((failed + 1))
  fi
}

if $sanitize; then
  # The tap suite with one worker under the sanitizers (four workers and AF_XDP run in the plain
  # run: together they would not fit CI's 90 minutes after it).
  integration "tap, ASan+UBSan" --ports tap --workers 1
  echo "== fuzz (20 s per target)"
  for target in $(scripts/fuzz.sh --list); do
    if FUZZ_JOBS=2 scripts/fuzz.sh "$target" 20 >"$log/fuzz-$target.out" 2>&1; then
      tail -1 "$log/fuzz-$target.out"
      passed=$((passed + 1))
    else
      echo "FAIL fuzz $target:"
      tail -30 "$log/fuzz-$target.out"
      failed=$((failed + 1))
    fi
  done
  rm -rf "$log"
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit
fi

# Twice: every test with taps as the router's links, then the router's, control and kernel path
# tests again with AF_XDP links (veth pairs; the NAT tests stay on taps and are left out).
integration tap --ports tap
integration afxdp --ports afxdp

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
