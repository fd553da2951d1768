#!/bin/bash
# README command 2: install what is missing, build with -Werror, and run the
# whole test suite: unit, integration (libvirt test driver; with the applet
# under Xvfb, tests/applet) and e2e (real
# libvirtd + a QEMU guest; needs root), then unit + integration again under
# ASan/UBSan, the unit suite under valgrind, a bounded libFuzzer run of every
# target in tests/fuzz, a quick benchmark run, and the clang-format check. The
# robustness suite (bad-input matrix, 32-client load, winvmd under valgrind)
# runs with the normal build.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh --tests

configure() { # dir, options...
  local dir=$1
  shift
  if [ -f "$dir/build.ninja" ]; then
    meson configure "$dir" "$@" >/dev/null
  else
    meson setup "$dir" "$@" >/dev/null
  fi
  # quiet when it builds, the compiler's words when it does not
  ninja -C "$dir" >"$dir/ninja.log" 2>&1 || { cat "$dir/ninja.log"; return 1; }
}

failed=0
step() { # name, command...
  local name=$1
  shift
  echo "== $name"
  if ! "$@"; then
    echo "== $name: FAILED"
    failed=1
  fi
}

configure build -Dwerror=true -Db_sanitize=none
step "tests" meson test -C build --print-errorlogs --num-processes 1

configure build-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0
step "asan+ubsan" meson test -C build-asan --print-errorlogs --suite unit --suite integration
unset ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS

step "valgrind" meson test -C build --print-errorlogs --suite unit \
  --wrapper "valgrind --quiet --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
--suppressions=/usr/share/glib-2.0/valgrind/glib.supp"

# libFuzzer (clang, ASan+UBSan): each target for 20s over a scratch copy of its
# committed corpus and of the inputs that once crashed it (tests/fuzz/crashes),
# so the repository is never written to. A crash, leak, hang or schema-invalid
# render fails the step; the new input is kept in build-fuzz/tests/fuzz/crashes/.
fuzz() {
  local dir=build-fuzz/tests/fuzz scratch t dict rc=0
  scratch=$(mktemp -d)
  for t in fuzz-profile fuzz-cpuset fuzz-render fuzz-import fuzz-buddyinfo; do
    dict=(-dict=tests/fuzz/profile.dict)
    [ "$t" = fuzz-cpuset ] || [ "$t" = fuzz-buddyinfo ] && dict=()
    [ "$t" = fuzz-import ] && dict=(-dict=tests/fuzz/import.dict)
    cp -r "tests/fuzz/corpus/$t" "$scratch/$t"
    cp -r "tests/fuzz/crashes/$t" "$scratch/$t-crashes"
    mkdir -p "$dir/crashes/$t"
    if ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
      LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0 \
      timeout 120 "$dir/$t" -max_total_time=20 -rss_limit_mb=2048 -timeout=10 "${dict[@]}" \
      -artifact_prefix="$dir/crashes/$t/" "$scratch/$t" "$scratch/$t-crashes" >"$scratch/$t.log" 2>&1; then
      echo "$t: $(grep -E '^#[0-9]+[[:space:]]+DONE' "$scratch/$t.log" | tr -s '[:space:]' ' ')"
    else
      tail -n 40 "$scratch/$t.log"
      echo "$t: failed; the input is in $dir/crashes/$t/"
      rc=1
    fi
  done
  rm -rf "$scratch"
  return $rc
}
CC=clang configure build-fuzz -Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false
step "fuzz" fuzz

# The benchmarks, quickly: they must keep working (figures are not judged here;
# run tests/bench/run for them).
step "bench (quick)" /usr/bin/python3 tests/bench/run --quick --json build/bench/quick.json

check_format() {
  local bad
  bad=$(git ls-files '*.c' '*.h' | xargs clang-format --dry-run -Werror 2>&1 | grep -c "error:" || true)
  [ "$bad" -eq 0 ] || { git ls-files '*.c' '*.h' | xargs clang-format --dry-run -Werror; return 1; }
}
step "clang-format" check_format

# One closing line over every run: a skipped test is a failure here.
/usr/bin/python3 - build build-asan <<'PY'
import json, sys
counts = {"OK": 0, "FAIL": 0, "SKIP": 0}
for d in sys.argv[1:]:
    try:
        lines = open(f"{d}/meson-logs/testlog.json").read().splitlines()
    except OSError:
        continue
    for line in lines:
        r = json.loads(line)["result"]
        key = "OK" if r in ("OK", "EXPECTEDFAIL") else "SKIP" if r == "SKIP" else "FAIL"
        counts[key] += 1
print(f"{counts['OK']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped")
sys.exit(1 if counts["FAIL"] or counts["SKIP"] else 0)
PY
[ $failed -eq 0 ]
