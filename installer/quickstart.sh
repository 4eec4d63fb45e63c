#!/bin/sh
# Installs the dependencies, builds, and starts the demo API and the bridge in
# the foreground. Ctrl-C stops both.
#   clients:  ws://localhost:7001/<ClientId>      (e.g. python3 -m websockets ws://localhost:7001/alice)
#   browser:  http://localhost:8000/              (a test page served by the demo API)
#   pushes:   curl -d 'hi' http://127.0.0.1:7002/<ClientId>
#   counters: curl http://127.0.0.1:7002/
#   manage:   curl -H "Authorization: Bearer <token>" http://127.0.0.1:7002/api/v1/stats  (docs/API.md)
# Configuration, tokens and statistics live in ~/.local/state/ws2api/ws2api.db.
set -eu
cd "$(dirname "$0")/.."
installer/install-deps.sh
installer/build.sh build -DCMAKE_BUILD_TYPE=RelWithDebInfo

# A management token for the console and the API, made once and shown once.
if build/server/ws2api token list | grep -q '^no tokens'; then
    echo "quickstart: management token 'admin' (shown once; keep it): $(build/server/ws2api token create admin)"
fi

build/server/ws2api-demo-api --listen 127.0.0.1:8000 &
DEMO_PID=$!
trap 'kill -TERM $DEMO_PID 2>/dev/null; wait $DEMO_PID 2>/dev/null' EXIT INT TERM
sleep 0.3
echo "quickstart: demo API on http://127.0.0.1:8000/, starting the bridge (Ctrl-C to stop)"
build/server/ws2api --listen 0.0.0.0:7001 --internal-listen 127.0.0.1:7002 --upstream http://127.0.0.1:8000/ "$@"
