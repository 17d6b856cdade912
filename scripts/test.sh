#!/usr/bin/env bash
# test.sh: the whole test suite, as CI runs it (.ci/run calls exactly this).
#
#   1. installs the Debian packages the project needs (idempotent)
#   2. builds with -Wall -Wextra -Werror and runs every ctest
#   3. rebuilds with AddressSanitizer + UndefinedBehaviorSanitizer and runs
#      every ctest again
#   4. builds the libFuzzer targets with clang and fuzzes the wire decoders
#      for FUZZ_SECONDS (default 30)
# and ends with one line "N passed, N failed, N skipped" summing every phase.
# A skipped test is not a passed one: ctest's skips (a test exiting 77, its
# SKIP_RETURN_CODE) are counted apart, and the run fails if any test skipped
# that tests/expected-skips.txt does not list for that pass, with its reason.
# Options via environment: SKIP_ASAN=1, SKIP_FUZZ=1, CTEST_ARGS="-R broker".
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=${JOBS:-3}   # ctest slots: most tests wait on processes and timers, not on the 2 cores
passed=0
failed=0
skipped=0
unexpected=()           # "pass: test" for every skip tests/expected-skips.txt does not allow
EXPECTED_SKIPS=tests/expected-skips.txt

bash scripts/setup-deps.sh || { echo "0 passed, 1 failed"; exit 1; }

# Is test $2 allowed to skip in pass $1? (a "NAME<TAB>PASS<TAB>REASON" line
# of tests/expected-skips.txt with that pass or "any")
expected_skip () {
  [ -f "$EXPECTED_SKIPS" ] && awk -F '\t' -v name="$2" -v pass="$1" \
    '$0 !~ /^#/ && $1 == name && ($2 == pass || $2 == "any") && $3 != "" { found = 1 } END { exit !found }' \
    "$EXPECTED_SKIPS"
}

# Run ctest in a build dir (pass name $1) and add its counts to the totals.
# ctest counts a skipped test as passed in its summary line; the skipped ones
# are read from its "The following tests did not run:" list and moved over.
run_ctest () {
  local pass=$1 dir=$2; shift 2
  local log; log=$(mktemp)
  (cd "$dir" && ctest --output-on-failure -j"$JOBS" ${CTEST_ARGS:-} "$@") 2>&1 | tee "$log"
  local line; line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1)
  if [ -z "$line" ]; then
    echo "ctest in $dir printed no summary"; failed=$((failed + 1))
  else
    local f t name skips=() disabled=()
    f=$(echo "$line" | sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/')
    t=$(echo "$line" | sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/')
    # skipped tests are inside ctest's total, disabled ones are not
    mapfile -t skips < <(sed -n '/^The following tests did not run:/,/^$/p' "$log" \
                         | sed -nE 's/^[[:space:]]+[0-9]+ - (.+) \(Skipped\)$/\1/p')
    mapfile -t disabled < <(sed -n '/^The following tests did not run:/,/^$/p' "$log" \
                            | sed -nE 's/^[[:space:]]+[0-9]+ - (.+) \(Disabled\)$/\1/p')
    for name in "${skips[@]}" "${disabled[@]}"; do
      if expected_skip "$pass" "$name"; then
        echo "skipped ($pass pass), as $EXPECTED_SKIPS allows: $name"
      else
        unexpected+=("$pass: $name")
      fi
    done
    passed=$((passed + t - f - ${#skips[@]})); failed=$((failed + f))
    skipped=$((skipped + ${#skips[@]} + ${#disabled[@]}))
  fi
  rm -f "$log"
}

build () {
  local dir=$1; shift
  cmake -S "$ROOT" -B "$dir" "$@" >/dev/null && cmake --build "$dir" -j"$JOBS" 2>&1 | grep -E 'error|warning|Error' ; return "${PIPESTATUS[0]}"
}

echo "== build (RelWithDebInfo, -Werror)"
if build build; then run_ctest normal build; else echo "build failed"; failed=$((failed + 1)); fi

if [ -z "${SKIP_ASAN:-}" ]; then
  echo "== build with AddressSanitizer + UndefinedBehaviorSanitizer"
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
  export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/tests/lsan.supp:print_suppressions=0}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  # The pretrained encoder is exercised under the sanitizers by its own
  # self-test (golden vectors); the end-to-end tests use the lexical embedder
  # here, because a sanitized transformer is ten times slower and they test
  # the pipeline, not the model. (Tests that need `use` skip themselves, and
  # tests/expected-skips.txt lists them for this pass.)
  # The browser tests drive the page through Chromium with 30 s waits on UI
  # events; they run in the normal pass, and the sanitized pass concentrates
  # on the C code (every C path they reach is reached by the edge tests).
  # Also left to the normal pass: the manifest validator (no C at all), the
  # backlog load test (a minute of the same re-driver code the other liveness
  # tests run sanitized) and the PostgreSQL copy of the sources take-over
  # (its store calls are the conformance suite's, which runs sanitized).
  # (no benchmarks: nothing in the suite runs them, and they would only
  # lengthen the second build)
  if build build-asan -DSLUICE_SANITIZE=ON -DSLUICE_BENCH=OFF; then
    SLUICE_EMBED_PROVIDER=${SLUICE_EMBED_PROVIDER:-hash} run_ctest asan build-asan \
      -E '^(web_|k8s_manifests$|liveness_backlog_not_redriven$|sources_killed_node_run_taken_over_postgres$)'
  else echo "asan build failed"; failed=$((failed + 1)); fi
fi

if [ -z "${SKIP_FUZZ:-}" ]; then
  echo "== fuzz the wire decoders (${FUZZ_SECONDS:-30} s)"
  if CC=clang cmake -S "$ROOT" -B build-fuzz -DSLUICE_FUZZ=ON >/dev/null \
     && cmake --build build-fuzz -j"$JOBS" --target fuzz_envelope 2>&1 | grep -E 'error|warning'; [ "${PIPESTATUS[0]}" = 0 ]; then
    corpus=$(mktemp -d); cp tests/fuzz_corpus/* "$corpus/"
    if ./build-fuzz/tests/fuzz_envelope -max_total_time="${FUZZ_SECONDS:-30}" -rss_limit_mb=2048 \
         "$corpus" > build-fuzz/fuzz.log 2>&1; then
      echo "fuzz_envelope: $(grep -Eo 'Done [0-9]+ runs' build-fuzz/fuzz.log), no crash"
      passed=$((passed + 1))
    else
      tail -40 build-fuzz/fuzz.log; echo "fuzz_envelope: CRASH (see above)"; failed=$((failed + 1))
    fi
    rm -rf "$corpus"
  else
    echo "fuzz build failed"; failed=$((failed + 1))
  fi
fi

# A skip that nobody explained is a failure of the suite: a test that did not
# run proves nothing, and the count alone would hide it.
if [ ${#unexpected[@]} -gt 0 ]; then
  echo "FAIL: ${#unexpected[@]} test(s) skipped that $EXPECTED_SKIPS does not list (NAME<TAB>PASS<TAB>REASON):"
  printf '  %s\n' "${unexpected[@]}"
  failed=$((failed + 1))
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
