# tests/lib.sh -- helpers for the shell tests (sourced).
# Each test gets a private directory, removed on exit; failures print why.
set -u
: "${top_builddir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_srcdir:=$top_builddir}"
JETLOAD="$top_builddir/tools/jetload/jetload"
JETUTIL="$top_builddir/tools/jetutil/jetutil"
T=$(mktemp -d "${TMPDIR:-/tmp}/jettest.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "PASS: $*"; }
# The commits=N of the last status line a run printed.
last_commits() { grep -o 'commits=[0-9]*' "$1" | tail -1 | cut -d= -f2; }
# How many status lines (commits=N) a run has printed so far: 0 before its file exists.
count_commits() { _c=$(grep -c 'commits=' "$1" 2>/dev/null); echo "${_c:-0}"; }
