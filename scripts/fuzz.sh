#!/usr/bin/env bash
# Builds and runs redline's libFuzzer targets (tests/fuzz/README.md says what each one feeds and
# asserts).
#
#   scripts/fuzz.sh --list             every target, one per line
#   scripts/fuzz.sh TARGET SECONDS     fuzz one target for SECONDS over tests/fuzz/corpus/TARGET/
#   scripts/fuzz.sh --all SECONDS      each target in turn, SECONDS each
#
# The targets build with clang-14, ASan, UBSan and assertions on, in build-fuzz/ (its own build
# dir: the release build in build/ is never touched). The build is set up once and ninja keeps it
# current. The committed seeds are only read: what libFuzzer finds goes to a temporary directory
# (kept, and named, when a target crashes). The regression inputs in tests/fuzz/regressions/TARGET/
# run first, once each. Every run ends with one line:
#   fuzz TARGET: N execs, N/s, 0 crashes
# or the crash's log and input, and the script exits non-zero.
# FUZZ_JOBS (default 1) sets ninja's parallelism; the fuzzer itself always runs one process.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=build-fuzz
JOBS=${FUZZ_JOBS:-1}

usage() {
  sed -n '5,7p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# Every tests/fuzz/NAME.cpp is a target (tests/fuzz/meson.build builds one executable per name).
targets() {
  for f in tests/fuzz/*.cpp; do basename "$f" .cpp; done
}

configure() {
  scripts/setup.sh
  [ -f "$BUILD/build.ninja" ] && return 0
  local log=/tmp/redline-fuzz-setup.$$.log
  # -Doptimization=2 too: the project's default_options pin optimization=3, which --buildtype
  # alone does not override. -fsanitize=fuzzer-no-link: every library under test carries
  # libFuzzer's coverage hooks, so the fuzzer is guided by the stack's branches, not only the
  # harness's. UBSan findings abort (no recovery) so libFuzzer keeps their inputs like any crash's.
  if ! CC=clang-14 CXX=clang++-14 meson setup "$BUILD" -Dfuzz=true --buildtype=debugoptimized -Doptimization=2 -Db_ndebug=false \
      -Db_sanitize=address,undefined -Db_lundef=false \
      "-Dcpp_args=-fsanitize=fuzzer-no-link -fno-sanitize-recover=undefined -fno-omit-frame-pointer" \
      >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    rm -rf "$BUILD"
    exit 1
  fi
  rm -f "$log"
}

build() {
  local log=/tmp/redline-fuzz-build.$$.log
  if ! ninja -C "$BUILD" -j "$JOBS" "tests/fuzz/$1" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    exit 1
  fi
  rm -f "$log"
}

# Runs one target; returns non-zero (after printing why) on a crash, a failed regression input,
# or a libFuzzer error.
run() {
  local name=$1 seconds=$2
  local bin="$BUILD/tests/fuzz/$name"
  local seeds="tests/fuzz/corpus/$name"
  local regressions="tests/fuzz/regressions/$name"
  local work
  work=$(mktemp -d "/tmp/redline-fuzz-$name.XXXXXX")
  mkdir -p "$work/corpus"
  # ASan's and UBSan's reports with stacks that name our lines; leaks count as crashes too.
  export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:symbolize=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

  if [ -d "$regressions" ] && [ -n "$(ls -A "$regressions")" ]; then
    if ! "$bin" "$regressions"/* >"$work/regressions.log" 2>&1; then
      tail -n 60 "$work/regressions.log" >&2
      echo "fuzz $name: a regression input in $regressions crashes (log: $work/regressions.log)" >&2
      return 1
    fi
  fi

  local status=0
  "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="$work/" "$work/corpus" "$seeds" >"$work/fuzz.log" 2>&1 || status=$?

  local execs rate crashes
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/fuzz.log" | tail -n 1)
  crashes=$(find "$work" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
    -o -name 'oom-*' \) | sort)
  local n_crashes=0
  [ -n "$crashes" ] && n_crashes=$(printf '%s\n' "$crashes" | wc -l)

  if [ "$status" -ne 0 ] || [ "$n_crashes" -ne 0 ]; then
    grep -v '^#[0-9]' "$work/fuzz.log" | tail -n 80 >&2
    for c in $crashes; do
      echo "input $c ($(stat -c %s "$c") bytes):" >&2
      od -An -tx1 -v "$c" | head -n 16 >&2
    done
    echo "fuzz $name: ${execs:-?} execs, ${rate:-?}/s, $n_crashes crashes (exit $status; kept in $work)" >&2
    return 1
  fi
  echo "fuzz $name: ${execs:-0} execs, ${rate:-0}/s, 0 crashes"
  rm -rf "$work"
}

[ $# -ge 1 ] || usage
case "$1" in
  --list)
    targets
    ;;
  --all)
    [ $# -eq 2 ] || usage
    configure
    failed=0
    for t in $(targets); do
      build "$t"
      run "$t" "$2" || failed=1
    done
    exit $failed
    ;;
  -*)
    usage
    ;;
  *)
    [ $# -eq 2 ] || usage
    [ -f "tests/fuzz/$1.cpp" ] || { echo "fuzz.sh: no target '$1' (scripts/fuzz.sh --list)" >&2; exit 2; }
    [[ "$2" =~ ^[0-9]+$ ]] || usage
    configure
    build "$1"
    run "$1" "$2"
    ;;
esac
