# Sourced first by the tests/cli/*.sh scripts (CTest runs each with the gcache
# binary as $1): unset variables are errors; ok / bad count checks (bad says
# why); $T is a temporary folder, and PIDS lists background processes
# (servers) to kill, both cleaned up on exit; `finish`, the last command,
# prints the counts and fails if any check did.
set -u
fails=0; passes=0
ok()  { passes=$((passes+1)); }
bad() { echo "FAIL: $*"; fails=$((fails+1)); }
T=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$T"; }
trap cleanup EXIT
finish() { echo "$passes passed, $fails failed"; [ "$fails" -eq 0 ]; }
