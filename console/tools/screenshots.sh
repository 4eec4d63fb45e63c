#!/bin/bash
# Screenshots of the console's main views for the README and docs/CONSOLE.md.
#
#   console/tools/screenshots.sh [BUILD_DIR]        (default: build)
#   SHOTS="groups" console/tools/screenshots.sh      (only these views)
#
# Starts two real bridges (eu-1, eu-2) with their own temporary
# databases and tokens (made with `ws2api token create`), a few hundred live
# WebSocket clients (console/tools/live_clients.py), and ws2api-console under
# xvfb-run for each view; saves docs/img/console-<view>.png. Every process it
# starts is stopped by its PID at the end.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
out="$root/docs/img"
mkdir -p "$out"
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

wait_line() { # file pattern: waits up to 10 s for the pattern, prints the match
  for _ in $(seq 100); do
    if grep -Eo "$2" "$1" 2>/dev/null | head -1 | grep -q .; then grep -Eo "$2" "$1" | head -1; return 0; fi
    sleep 0.1
  done
  echo "timed out waiting for '$2' in $1:" >&2; cat "$1" >&2; return 1
}

declare -A internal public
for name in eu-1 eu-2; do
  # One demo API per bridge: it serves 256 keep-alive connections at once, and
  # each bridge is started with upstream.max_connections=64 below.
  "$build/server/ws2api-demo-api" --listen 127.0.0.1:0 >"$tmp/$name-api.log" 2>&1 &
  pids+=($!)
  api_port=$(wait_line "$tmp/$name-api.log" 'listening on http://127\.0\.0\.1:[0-9]+' | grep -Eo '[0-9]+$')
  db="$tmp/$name.db"
  token=$("$build/server/ws2api" token create console-demo --db "$db")
  printf '%s\n' "$token" >"$tmp/$name.token"
  chmod 600 "$tmp/$name.token"
  "$build/server/ws2api" --listen 127.0.0.1:0 --internal-listen 127.0.0.1:0 \
      --upstream "http://127.0.0.1:$api_port/" --db "$db" --set stats.interval_ms=2000 --set upstream.max_connections=64 >"$tmp/$name.log" 2>&1 &
  pids+=($!)
  internal[$name]=$(wait_line "$tmp/$name.log" 'internal listener: [0-9.]+:[0-9]+' | grep -Eo '[0-9]+$')
  public[$name]=$(wait_line "$tmp/$name.log" 'public listener: [0-9.]+:[0-9]+' | grep -Eo '[0-9]+$')
  echo "$name: public ${public[$name]}, management ${internal[$name]}"
done

# eu-tls: a bridge whose internal listener has internal.tls.* with a
# certificate from a private CA the console is not given (openssl CLI), for
# the "certificate verify failed" banner.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=ws2api screenshot CA" \
    -keyout "$tmp/ca.key" -out "$tmp/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$tmp/tls.key" -out "$tmp/tls.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$tmp/tls.ext"
openssl x509 -req -in "$tmp/tls.csr" -CA "$tmp/ca.crt" -CAkey "$tmp/ca.key" -CAcreateserial -days 2 \
    -extfile "$tmp/tls.ext" -out "$tmp/tls.crt" 2>/dev/null
"$build/server/ws2api" token create console-demo --db "$tmp/eu-tls.db" >"$tmp/eu-tls.token"
chmod 600 "$tmp/eu-tls.token"
"$build/server/ws2api" --listen 127.0.0.1:0 --internal-listen 127.0.0.1:0 --db "$tmp/eu-tls.db" \
    --set internal.tls.cert_file="$tmp/tls.crt" --set internal.tls.key_file="$tmp/tls.key" >"$tmp/eu-tls.log" 2>&1 &
pids+=($!)
internal[eu-tls]=$(wait_line "$tmp/eu-tls.log" 'internal listener: [0-9.]+:[0-9]+' | grep -Eo '[0-9]+$')

/usr/bin/python3 "$here/live_clients.py" --clients 240 \
    --bridge "eu-1=ws://127.0.0.1:${public[eu-1]}" >"$tmp/clients1.log" 2>&1 &
pids+=($!)
/usr/bin/python3 "$here/live_clients.py" --clients 160 \
    --bridge "eu-2=ws://127.0.0.1:${public[eu-2]}" >"$tmp/clients2.log" 2>&1 &
pids+=($!)

# Some history for the audit log: an operator's changes.
api() { curl -s -o /dev/null -X "$1" -H "Authorization: Bearer $(cat "$tmp/eu-1.token")" \
        -H 'Content-Type: application/json' ${3:+-d "$3"} "http://127.0.0.1:${internal[eu-1]}/api/v1/$2"; }
sleep 5
api PUT config/limits.idle_timeout_ms '{"value":"120000"}'
api PUT config/upstream.timeout_ms '{"value":"5000"}'
api PUT config/upstream.max_connections '{"value":"48"}'
api POST connections/eu-1-client-0003/push '{"text":"maintenance at 22:00"}'
api POST connections/eu-1-client-0007/disconnect '{"code":4001,"reason":"kicked by operator"}'
api DELETE config/upstream.timeout_ms

# Groups on eu-1, joined as the team's API would (PUT /groups/<group>/<ClientId>
# on the internal listener); clients whose number ends in 0 come and go, so
# they are left out.
join() { curl -s -o /dev/null -X PUT "http://127.0.0.1:${internal[eu-1]}/groups/$1/eu-1-client-$2"; }
for i in $(seq 1 9); do join "room:7" "$(printf %04d "$i")"; done
for i in $(seq 11 14); do join "room:8" "$(printf %04d "$i")"; done
for i in $(seq 21 29); do join "team:support" "$(printf %04d "$i")"; done
join "team:support" 0003
for i in $(seq 31 99); do [ $((i % 10)) -ne 0 ] && join "lobby" "$(printf %04d "$i")"; done
join "beta-testers" 0042; join "beta-testers" 0043; join "room:8" 0042

if [ -z "${SHOTS:-}" ] || [[ " $SHOTS " == *" overview "* ]]; then
  echo "letting the statistics history fill (40 s)..."
  sleep 40
fi

shot() { # name, console args...
  local name=$1; shift
  if [ -n "${SHOTS:-}" ] && [[ " $SHOTS " != *" $name "* ]]; then return 0; fi
  XDG_CONFIG_HOME="$tmp/xdg" WS2API_CONSOLE_NO_KEYRING=1 QT_QPA_PLATFORM=xcb \
  xvfb-run -a -s '-screen 0 1400x900x24' bash -c '
    "$0" -geometry 1400x900+0+0 "$@" >"'"$tmp"'/console.log" 2>&1 &
    c=$!
    sleep 14
    import -window root "'"$out"'/console-'"$name"'.png"
    kill $c; wait $c 2>/dev/null || true' "$build/console/ws2api-console" "$@"
  echo "saved docs/img/console-$name.png"
}

bridges=(--bridge "eu-1=http://127.0.0.1:${internal[eu-1]}" --token-file "$tmp/eu-1.token"
         --bridge "eu-2=http://127.0.0.1:${internal[eu-2]}" --token-file "$tmp/eu-2.token")
shot overview "${bridges[@]}" --view overview --scope cluster
shot connections "${bridges[@]}" --view connections --select eu-1-client-0042 --push 'hello from the console'
shot groups "${bridges[@]}" --view groups --group room:7 --group-push 'hello room 7'
shot config "${bridges[@]}" --view config --config-try limits.idle_timeout_ms=5
shot audit "${bridges[@]}" --view audit
# An unreachable bridge and a wrong token: what the operator sees.
printf 'w2a_wrong\n' >"$tmp/wrong.token"; chmod 600 "$tmp/wrong.token"
shot unreachable --bridge "eu-3=http://127.0.0.1:9" --token-file "$tmp/eu-1.token" --view overview
shot token-refused --bridge "eu-1=http://127.0.0.1:${internal[eu-1]}" --token-file "$tmp/wrong.token" --view connections
# https with a certificate the console cannot verify (no --ca-file: the system store).
shot untrusted --bridge "eu-tls=https://127.0.0.1:${internal[eu-tls]}" --token-file "$tmp/eu-tls.token" --view overview
