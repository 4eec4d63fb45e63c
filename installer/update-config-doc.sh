#!/bin/sh
# Rewrites the key table of docs/configuration.md from `ws2api --config-reference`
# (DocsTest fails until this is run after a change to common/ConfigKeys.cpp).
set -eu
cd "$(dirname "$0")/.."
BIN=${1:-build/server/ws2api}
python3 - "$BIN" <<'PY'
import subprocess, sys
path = 'docs/configuration.md'
doc = open(path).read()
ref = subprocess.run([sys.argv[1], '--config-reference'], capture_output=True, text=True, check=True).stdout
start = doc.index('| key | type |')
end = doc.index('\n## ', start)
open(path, 'w').write(doc[:start] + ref + doc[end:])
PY
