#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The exe_wrapper of `meson test --setup valgrind`: runs a test program
# under valgrind memcheck (errors, and memory definitely lost, fail it).
# Interpreters (the Python suites) run as they are; the robustness tests
# among them start winvmd under valgrind themselves (WV_VALGRIND=1, set by
# the setup) and check valgrind's report when it exits.
case "$(basename "$1")" in
  python*|sh|bash) exec "$@" ;;
esac
supp="$(dirname "$0")/../valgrind.supp"
set -- --suppressions=/usr/share/glib-2.0/valgrind/glib.supp "$@"
[ -f "$supp" ] && set -- --suppressions="$supp" "$@"
exec valgrind --quiet --tool=memcheck --leak-check=full --errors-for-leak-kinds=definite \
  --error-exitcode=1 --track-origins=yes --num-callers=30 "$@"
