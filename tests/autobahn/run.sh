#!/usr/bin/env bash
# Run Autobahn|Testsuite's fuzzingclient against a WebSocket server.
#
#   run.sh <ws-url> <outdir> [case-pattern ...]
#
#   ws-url        e.g. ws://127.0.0.1:9001  or ws://127.0.0.1:8080/autobahn
#                 (the URL's path+query is sent verbatim as the request target)
#   outdir        report directory (created); HTML index.html + index.json +
#                 per-case <agent>_case_*.json/html
#   case-pattern  default "*"; e.g. "12.*" "13.*" or "1.1.1" (wildcards as in
#                 the spec file's "cases" list)
# env: AGENT (agent name in the report; default "server"), EXCLUDE (comma list
#      of case patterns to skip), OPTIONS (JSON object of fuzzingclient protocol
#      options, default {}), CPU_LOCK (default /tmp/ws2api-cpu.lock; set
#      CPU_LOCK= to run without flock).
# Prints the summary counts at the end (summary.py).  Exit status of wstest.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 2 ] || { sed -n 2,17p "$0"; exit 2; }
URL=$1; OUT=$2; shift 2
[ $# -gt 0 ] || set -- '*'
AGENT=${AGENT:-server}
CPU_LOCK=${CPU_LOCK-/tmp/ws2api-cpu.lock}
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
SPEC=$OUT/fuzzingclient.json
python3 - "$URL" "$OUT" "$AGENT" "${EXCLUDE:-}" "${OPTIONS:-{\}}" "$@" > "$SPEC" <<'PY'
import json, sys
url, out, agent, excl, opts = sys.argv[1:6]
cases = sys.argv[6:]
print(json.dumps({
    "outdir": out,
    "options": json.loads(opts),
    "servers": [{"agent": agent, "url": url}],
    "cases": cases,
    "exclude-cases": [c for c in excl.split(',') if c],
    "exclude-agent-cases": {},
}, indent=2))
PY
echo "spec: $SPEC"; cat "$SPEC"
# wstest writes nothing but the report into outdir; run it from outdir
cd "$OUT"
rc=0
if [ -n "$CPU_LOCK" ]; then
  flock "$CPU_LOCK" "$HERE/bin/wstest" -m fuzzingclient -s "$SPEC" > "$OUT/wstest.log" 2>&1 || rc=$?
else
  "$HERE/bin/wstest" -m fuzzingclient -s "$SPEC" > "$OUT/wstest.log" 2>&1 || rc=$?
fi
echo "wstest exit $rc, log: $OUT/wstest.log, report: $OUT/index.html"
if [ -f "$OUT/index.json" ]; then python3 "$HERE/summary.py" "$OUT"; else tail -20 "$OUT/wstest.log"; fi
exit $rc
