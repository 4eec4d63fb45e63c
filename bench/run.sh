#!/bin/sh
# Runs the benchmark scenarios against a freshly started bridge, with nginx
# (loopback only) as the upstream API. Prints one summary line per scenario
# and appends them to bench/results/<date>.txt.
#
#   bench/run.sh                 # all scenarios (about 5 minutes)
#   bench/run.sh closed ramp     # some of them: closed | ramp | connect | limit | multi | management
#
# Needs: a release build in build/ (installer/build.sh), nginx (apt-get install nginx).
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=${BUILD:-$ROOT/build}
BENCH=$BUILD/bench/ws2api-bench
BRIDGE=$BUILD/server/ws2api
SCENARIOS=${*:-closed ramp connect limit multi}
WORK=$(mktemp -d /tmp/ws2api-bench.XXXXXX)
RESULTS=$ROOT/bench/results/$(date +%Y-%m-%d).txt
mkdir -p "$ROOT/bench/results" "$WORK/body"
NGINX_PORT=18080
PIDS=""

cleanup() {
    for p in $PIDS; do kill -TERM "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    if [ -n "${KEEP:-}" ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT INT TERM

sed -e "s|__DIR__|$WORK|g" -e "s|__PORT__|$NGINX_PORT|g" "$ROOT/bench/nginx-upstream.conf" > "$WORK/nginx.conf"
nginx -c "$WORK/nginx.conf" -p "$WORK" &
PIDS="$PIDS $!"
sleep 0.5

# start_bridge PUBLIC_PORT INTERNAL_PORT [extra args]: starts one bridge, sets BRIDGE_PID
start_bridge() {
    pub=$1; int=$2; shift 2
    "$BRIDGE" --listen 127.0.0.1:$pub --internal-listen 127.0.0.1:$int \
        --upstream http://127.0.0.1:$NGINX_PORT/ --set log.level=warning --db "$WORK/bridge-$pub.db" "$@" > "$WORK/bridge-$pub.log" 2>&1 &
    BRIDGE_PID=$!
    PIDS="$PIDS $BRIDGE_PID"
    for _try in $(seq 50); do
        curl -sf http://127.0.0.1:$int/ >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "bridge did not start:"; cat "$WORK/bridge-$pub.log"; exit 1
}
stop_bridge() {
    kill -TERM "$1"; wait "$1" 2>/dev/null || true
}
echo "# $(date -u +%FT%TZ) $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null) $(nproc) cores" >> "$RESULTS"

for s in $SCENARIOS; do
    case $s in
    closed)
        start_bridge 7101 7102
        "$BENCH" --target 127.0.0.1:7101 --clients 1000 --mode closed --duration 30 --expect pong \
            --bridge-pid $BRIDGE_PID --label closed-1000x30s --results "$RESULTS"
        stop_bridge $BRIDGE_PID ;;
    ramp)
        start_bridge 7101 7102
        "$BENCH" --target 127.0.0.1:7101 --clients 19000 --mode ramp --interval-ms 10000 --duration 90 \
            --ramp-rate 5000 --expect pong --bridge-pid $BRIDGE_PID --label ramp-19000x90s --results "$RESULTS"
        stop_bridge $BRIDGE_PID ;;
    connect)
        start_bridge 7101 7102
        "$BENCH" --target 127.0.0.1:7101 --clients 15000 --mode connect --max-connecting 2000 \
            --bridge-pid $BRIDGE_PID --label connect-15000 --results "$RESULTS"
        stop_bridge $BRIDGE_PID ;;
    limit)
        # More clients than the bridge's descriptor limit allows: the extra ones
        # must get 503 at once, the others must not notice.
        start_bridge 7101 7102
        "$BENCH" --target 127.0.0.1:7101 --clients 20500 --mode ramp --interval-ms 5000 --duration 20 \
            --ramp-rate 10000 --expect pong --bridge-pid $BRIDGE_PID --label limit-20500 --results "$RESULTS"
        curl -s http://127.0.0.1:7102/ | grep -E '^(connections_refused|accept_errors|requests_failed)_total' | tr '\n' ' ' | tee -a "$RESULTS"; echo | tee -a "$RESULTS"
        stop_bridge $BRIDGE_PID ;;
    multi)
        # Six bridges (one loop each) holding 95,000 clients together, spread by consistent hashing.
        targets=""; bpids=""
        for i in 1 2 3 4 5 6; do
            start_bridge 72${i}1 72${i}2 --set server.loops=1 --set upstream.pool_size=16
            targets="$targets${targets:+,}127.0.0.1:72${i}1"; bpids="$bpids${bpids:+,}$BRIDGE_PID"
        done
        "$BENCH" --target "$targets" --clients 95000 --mode ramp --interval-ms 10000 --duration 60 --ramp-rate 5000 \
            --sources 32 --expect pong --bridge-pid "$bpids" --label multi-6x95000 --results "$RESULTS" --max-run 900
        for p in $(echo "$bpids" | tr ',' ' '); do stop_bridge "$p"; done ;;
    management)
        # Management calls while 19,000 clients are connected and talking: how
        # long a console waits for a page of the connection list, and whether
        # the clients notice (the bench's own p99).
        "$BRIDGE" token create bench --db "$WORK/bridge-7101.db" > "$WORK/token"
        start_bridge 7101 7102
        "$BENCH" --target 127.0.0.1:7101 --clients 19000 --mode ramp --interval-ms 10000 --duration 60 \
            --ramp-rate 5000 --expect pong --id-prefix mgmt- --bridge-pid $BRIDGE_PID --label management-19000x60s \
            --results "$RESULTS" &
        BENCH_PID=$!
        sleep 20 # ramp done (19,000 at 5,000/s), traffic flowing
        timed() { # timed LABEL PATH: median and max of 20 calls, in ms
            for _i in $(seq 20); do
                curl -s -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $(cat "$WORK/token")" "http://127.0.0.1:7102$2"
            done | sort -n | awk -v l="$1" '{t[NR]=$1*1000} END {printf "%s median %.1f ms max %.1f ms; ", l, t[int((NR+1)/2)], t[NR]}'
        }
        {
            printf 'management (19,000 clients): '
            timed stats /api/v1/stats
            timed list-page /api/v1/connections?limit=100
            timed list-traffic '/api/v1/connections?sort=traffic&limit=100'
            timed list-prefix '/api/v1/connections?prefix=mgmt-1&limit=100'
            timed list-last-page '/api/v1/connections?offset=18900&limit=100'
            timed detail /api/v1/connections/mgmt-17
            echo
        } | tee -a "$RESULTS"
        wait $BENCH_PID || true
        stop_bridge $BRIDGE_PID ;;
    *) echo "unknown scenario $s"; exit 64 ;;
    esac
done
echo "results appended to $RESULTS"
