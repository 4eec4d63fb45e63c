#!/bin/sh
# Runs the benchmark scenarios against a freshly started bridge, with nginx
# (loopback only) as the upstream API. Prints one summary line per scenario
# and appends them to bench/results/<date>.txt.
#
#   bench/run.sh                 # all scenarios (about 5 minutes)
#   bench/run.sh closed ramp     # some of them: closed | ramp | connect | limit | multi | management
#   bench/run.sh deflate-memory  # bytes per connection with permessage-deflate off/shared/dedicated (not in the default set)
#   bench/run.sh deflate-ratio   # compression ratio and CPU per message, ws2api's codec vs Node ws (not in the default set)
#
#   bench/run.sh tls             # issue 12: wss:// natively vs HAProxy terminating TLS in front of ws2api
#                                # (idle memory, closed-loop msg/s and CPU, handshakes/s; see the tls block)
#   bench/run.sh tls-memory      # what OpenSSL keeps per idle wss:// connection (allocation hooks, no sockets)
#   bench/run.sh soak            # issue 27: an hour of churn, pushes, API restarts, SIGHUP and live
#                                # config changes (bench/soak.py); RSS, descriptors, upstream
#                                # connections sampled into $RESULTS.soak.csv (see the soak block)
#   bench/run.sh million         # issue 16: 100k..1M clients x 1 message / 30 s, many bridge processes
#                                # (environment and steps: see the million block below)
#   bench/run.sh upstream-tls    # closed loop (TLS_CLIENTS=1000, instant API): msg/s and bridge CPU per
#                                # message with the API over http:// and over https://, one nginx, one run
#   bench/run.sh timers          # per-process scaling: 10k/100k/1M connections in one loop,
#                                # no sockets (ws2api-timer-bench; extra arguments go to it)
#   bench/run.sh compare         # the comparison scenarios (issue 17), each against
#                                # ws2api and then the bridge in $GO_BRIDGE, same box, same API:
#     c2000-50ms     2,000 clients closed loop, API answers POST after 50 ms
#     c10000-50ms   10,000 clients closed loop, 50 ms API (2 generator processes)
#     c1000-instant  1,000 clients closed loop, instant API
#     r19000-50ms   19,000 clients x 1 message per 10 s, 50 ms API (2 generator processes)
#     r19000-open-50ms  the same in the Go original's own test shape (issue 26): each client sends its
#                   first message as soon as it is open, and every reply counts, the ramp's included
#                   (--from-open), so messages compete with the 19,000 handshakes still under way
#   ws2api's line also says where its time went: stage_<name>_{n,p50_ms,p99_ms,max_le_ms} for each
#   of its latency histograms over the run (bench/stages.py; docs/MONITORING.md "Latency by stage").
#   CAPTURE=1 bench/run.sh compare r19000-open-50ms   # also where each message's time went on the wire:
#   tcpdump on lo (the bridge's port and the API's), then bench/wirestages.py: wire_{total,in,api,out}_*
#   (in: frame -> POST, api: POST -> answer, out: answer -> reply), messages on new connections, and
#   the messages over 60 ms by cause. Needs apt-get install tcpdump tshark; costs the box some CPU.
#   bench/run.sh compare c2000-50ms r19000-50ms   # some of them
#   One key=value line per side: label, side=ours|go, msg/s, p50/p99, errors by kind
#   (error_replies, empty frames, unexpected, missing, late > 5 s), ramp time,
#   bridge_cpu_us_per_msg, bridge_kb_per_conn, peak fds; plus the bridge's own
#   requests_failed counter and how often its log says "too many open files".
#   bench/run.sh examples-php    # the PHP example (nginx + PHP-FPM) as the API next to the nginx
#                                # echo API, same run: 19,000 clients x 1 message per 10 s
#                                # (PHP_WORKERS=16 pm=static, DURATION=30, RAMP_RATE=1000 connects/s, CLIENTS=19000,
#                                # UPSTREAM_CONNECTIONS=64: the bridge's upstream.max_connections on both sides)
#   bench/run.sh fanout          # one message to 19,000 clients (issue 15), three ways, one nginx:
#     ours-group   ws2api, every client in one group, one POST /groups/<group> per message
#     ours-single  ws2api, 19,000 POST /<ClientId> per message (64 keep-alive connections)
#     go-single    the bridge in $GO_BRIDGE the same way (the only way it has), if set
#   Each: time until the last client has the message (p50/p99 over FANOUT_PUSHES=20), frames/s of
#   a stream of messages for FANOUT_STREAM=10 s, bridge RSS per group membership (group side,
#   FANOUT_GROUPS groups per client, default 1). FANOUT_CLIENTS (19000), FANOUT_BYTES (64).
#   bench/run.sh push            # pushes (POST /<ClientId>) to PUSH_CLIENTS (2,000) connected, reading
#                                # clients (ws2api-bench --mode hold, ids push-0..push-1999), from wrk
#                                # (bench/push.lua, random ClientId, 32-64 byte text) with PUSH_CONNECTIONS
#                                # (32) connections and PUSH_THREADS (2) threads, DURATION s per mode,
#                                # ws2api (internal listener) and then the bridge in $GO_BRIDGE (its
#                                # public port: the only place it takes pushes), same run, one nginx:
#     push-keepalive  keep-alive connections
#     push-close      a new connection per push (Connection: close: what PHP's file_get_contents does)
#     push-batch      ws2api only: PUSH_BATCH (100) messages per POST /push/batch (messages/s = requests/s x 100)
#   bench/run.sh push keepalive batch   # some of them
#   One key=value line per side and mode: pushes_per_s (200 answers per second; for batch also
#   msgs_per_s), non_200, socket_errors, accepted_conns (TCP passive opens on the box during the
#   window: 32 with keep-alive, one per push with close), received (messages the clients got;
#   received_minus_200 is 0..in-flight: the requests wrk abandons when it stops may still be
#   delivered), bridge_cpu_us_per_push (utime+stime over wrk's window / 200 answers; batch: per
#   message), clients_cpu_us_per_msg (the reading clients' process, the same way), box_busy_pct
#   (all cores, /proc/stat: near 100 the box, not the bridge, sets the rate), wrk's p50/p99. Needs wrk (apt-get install wrk); GO_BRIDGE, GO_ARGS, GO_PORT as for compare.
#   Environment for compare:
#     GO_BRIDGE=/path/to/binary  the other bridge (unset: the Go side is skipped, with a line saying so)
#     GO_ARGS='-listen {listen} -upstream {upstream}'  its arguments ({listen} = 127.0.0.1:$GO_PORT,
#                                {upstream} = http://127.0.0.1:$NGINX_PORT$API_PATH); the unmodified
#                                Go original has no flags (:7001, http://localhost:8000/wsoverhttp/):
#                                GO_ARGS= GO_PORT=7001 NGINX_PORT=8000
#     GO_PORT (7301)  API_PATH (/wsoverhttp/, both bridges call it)  DURATION (30 s of traffic)
#     NGINX_PORT (18080)  NGINX_WORKERS (1)  API_MS (override the scenario's API latency)
#
# Needs: a release build in build/ (installer/build.sh), nginx (apt-get install nginx),
# and for the 50 ms API libnginx-mod-http-echo.
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=${BUILD:-$ROOT/build}
BENCH=$BUILD/bench/ws2api-bench
BRIDGE=${BRIDGE_BIN:-$BUILD/server/ws2api} # BRIDGE_BIN: another ws2api binary (an A/B of two builds)
SCENARIOS=${*:-closed ramp connect limit multi}
WORK=$(mktemp -d /tmp/ws2api-bench.XXXXXX)
RESULTS=${RESULTS:-$ROOT/bench/results/$(date +%Y-%m-%d).txt}
mkdir -p "$ROOT/bench/results" "$WORK/body"
NGINX_PORT=${NGINX_PORT:-18080}
NGINX_WORKERS=${NGINX_WORKERS:-1}
API_PATH=${API_PATH:-/wsoverhttp/}
GO_PORT=${GO_PORT:-7301}
GO_ARGS=${GO_ARGS-'-listen {listen} -upstream {upstream}'}
DURATION=${DURATION:-30}
PIDS=""
NGINX_PID=""

cleanup() {
    for p in $PIDS; do kill -TERM "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    if [ -n "${KEEP:-}" ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT INT TERM
forget() { # forget PID: no longer ours to stop at exit
    np=""; for p in $PIDS; do [ "$p" = "$1" ] || np="$np $p"; done; PIDS=$np
}

# start_nginx [CONF SLEEP PATH]: the instant API of the classic scenarios
# (nginx-upstream.conf, any path), or nginx-api.conf with POST answered after
# SLEEP seconds (0 = at once) under PATH. Sets NGINX_PID.
start_nginx() {
    conf=${1:-nginx-upstream.conf}
    sed -e "s|__DIR__|$WORK|g" -e "s|__PORT__|$NGINX_PORT|g" -e "s|__WORKERS__|$NGINX_WORKERS|g" \
        -e "s|__PATH__|${3:-/}|g" -e "s|__SLEEP__|${2:-0}|g" "$ROOT/bench/$conf" > "$WORK/nginx.conf"
    if [ "${2:-0}" = 0 ]; then sed -i '/echo_sleep/d' "$WORK/nginx.conf"; fi
    if [ -n "${NGINX_TLS_PORT:-}" ]; then # the same API over https as well (upstream-tls)
        sed -i "s|^\( *\)listen 127.0.0.1:$NGINX_PORT\(.*\)$|&\n\1listen 127.0.0.1:$NGINX_TLS_PORT ssl;\n\1ssl_certificate $WORK/api.crt;\n\1ssl_certificate_key $WORK/api.key;|" "$WORK/nginx.conf"
    fi
    nginx -c "$WORK/nginx.conf" -p "$WORK" &
    NGINX_PID=$!
    PIDS="$PIDS $NGINX_PID"
    for _try in $(seq 50); do
        curl -s -o /dev/null http://127.0.0.1:$NGINX_PORT/ 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nginx did not start:"; cat "$WORK/nginx-error.log"; exit 1
}
stop_nginx() {
    [ -n "$NGINX_PID" ] || return 0
    kill -TERM "$NGINX_PID" 2>/dev/null || true; wait "$NGINX_PID" 2>/dev/null || true
    forget "$NGINX_PID"; NGINX_PID=""
}

# localhost_certificate: a self-signed ECDSA P-256 certificate for localhost and 127.0.0.1,
# $WORK/tls.crt and $WORK/tls.key (the tls and tls-memory scenarios).
localhost_certificate() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$WORK/tls.key" -out "$WORK/tls.crt" 2>/dev/null
}

# start_bridge PUBLIC_PORT INTERNAL_PORT [extra args]: starts one bridge, sets BRIDGE_PID
start_bridge() {
    pub=$1; int=$2; shift 2
    "$BRIDGE" --listen 127.0.0.1:$pub --internal-listen 127.0.0.1:$int \
        --upstream "${UPSTREAM_BASE:-http://127.0.0.1:$NGINX_PORT}${UPSTREAM_PATH:-/}" --set log.level=warning \
        --db "$WORK/bridge-$pub.db" ${BRIDGE_EXTRA:-} "$@" > "$WORK/bridge-$pub.log" 2>&1 &
    BRIDGE_PID=$!
    PIDS="$PIDS $BRIDGE_PID"
    for _try in $(seq 50); do
        curl -sf http://127.0.0.1:$int/ >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "bridge did not start:"; cat "$WORK/bridge-$pub.log"; exit 1
}
stop_bridge() { # SIGTERM, then at most 30 s for the graceful shutdown before SIGKILL
    kill -TERM "$1" 2>/dev/null || true
    for _try in $(seq 300); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    forget "$1"
}

# compare_side ours|go LABEL API_MS BENCH_ARGS...: one side of a comparison scenario;
# prints the bench's summary line with the side's extra keys and appends it to $RESULTS.
compare_side() {
    side=$1; label=$2; api_ms=$3; shift 3
    log=$WORK/$label-$side.log
    if [ "$side" = ours ]; then
        rm -f "$WORK/bridge-7101.db"* # default settings, empty statistics
        # shellcheck disable=SC2086 # BRIDGE_ARGS is a word list
        UPSTREAM_PATH=$API_PATH start_bridge 7101 7102 ${BRIDGE_ARGS:-}
        target=127.0.0.1:7101; metrics=http://127.0.0.1:7102/; logfile=$WORK/bridge-7101.log
    else
        args=$(printf '%s' "$GO_ARGS" | sed -e "s|{listen}|127.0.0.1:$GO_PORT|g" \
            -e "s|{upstream}|http://127.0.0.1:$NGINX_PORT$API_PATH|g")
        # shellcheck disable=SC2086 # GO_ARGS is a word list
        "$GO_BRIDGE" $args > "$log" 2>&1 &
        BRIDGE_PID=$!
        PIDS="$PIDS $BRIDGE_PID"
        target=127.0.0.1:$GO_PORT; metrics=http://127.0.0.1:$GO_PORT/; logfile=$log
        up=""
        for _try in $(seq 50); do
            if curl -sf "$metrics" >/dev/null 2>&1; then up=1; break; fi
            sleep 0.1
        done
        [ -n "$up" ] || { echo "$GO_BRIDGE did not answer on $target:"; tail -5 "$log"; stop_bridge "$BRIDGE_PID"; return 0; }
    fi
    workers=${API_PIDS:-$(ps -o pid= --ppid "$NGINX_PID" | tr -s ' \n' ',' | sed 's/^,//;s/,$//')}
    echo "[$label $side] $(awk '/MemAvailable/ {printf "mem_available_mb=%d", $2/1024}' /proc/meminfo) bridge_pid=$BRIDGE_PID"
    curl -s --max-time 5 "$metrics" > "$WORK/metrics-before" || true
    if [ -n "${CAPTURE:-}" ]; then # the bridge's port and the API's, for bench/wirestages.py
        tcpdump -i lo -s 160 -B 524288 -w "$WORK/cap.pcap" "tcp port ${target##*:} or tcp port $NGINX_PORT" \
            > "$WORK/tcpdump.log" 2>&1 &
        CAPTURE_PID=$!; PIDS="$PIDS $CAPTURE_PID"
        sleep 1
    fi
    out=$("$BENCH" --target "$target" --expect pong --bridge-pid "$BRIDGE_PID" ${workers:+--api-pid "$workers"} \
        --label "$label" --max-run 300 "$@" 2>&1) || true
    curl -s --max-time 5 "$metrics" > "$WORK/metrics-after" || true
    wire=""
    if [ -n "${CAPTURE:-}" ]; then
        kill -INT "$CAPTURE_PID" 2>/dev/null || true; wait "$CAPTURE_PID" 2>/dev/null || true; forget "$CAPTURE_PID"
        tshark -r "$WORK/cap.pcap" -T fields -e frame.time_epoch -e tcp.stream -e tcp.srcport -e tcp.dstport \
            -e tcp.len -e tcp.flags -e tcp.payload -E separator=' ' 2>/dev/null |
            awk '{print $1, $2, $3, $4, $5, $6, substr($7, 1, 120)}' > "$WORK/cap.txt"
        dropped=$(awk '/dropped by kernel/ {print $1}' "$WORK/tcpdump.log")
        wire=" $(/usr/bin/python3 "$ROOT/bench/wirestages.py" "$WORK/cap.txt" --bridge-port "${target##*:}" \
            --api-port "$NGINX_PORT") wire_dropped=${dropped:-?}"
        rm -f "$WORK/cap.pcap" "$WORK/cap.txt"
    fi
    failed=$(awk '/^requests_failed(_total)? / {print $2; exit}' "$WORK/metrics-after")
    # ws2api: where the time went, stage by stage, over the bench's whole run (its latency histograms).
    stages=""
    [ "$side" = ours ] && stages=" $(/usr/bin/python3 "$ROOT/bench/stages.py" "$WORK/metrics-before" "$WORK/metrics-after")"
    emfile=$(grep -ci 'too many open files' "$logfile" 2>/dev/null || true)
    stop_bridge "$BRIDGE_PID"
    line="$(printf '%s\n' "$out" | grep "^$label: " | tail -1)"
    if [ -z "$line" ]; then
        line="$label: bench_failed=1"; printf '%s\n' "$out" | tail -5
    fi
    line="$line side=$side api_ms=$api_ms bridge_requests_failed=${failed:-?} bridge_log_emfile=${emfile:-0}$(side_keys)$stages$wire"
    echo "$line" | tee -a "$RESULTS"
    sleep 2 # let the sockets of this side wind down
}

side_keys() { :; } # more key=value pairs for compare_side's line (the examples scenario sets it)

# compare_scenario NAME API_MS BENCH_ARGS...: both sides against one nginx.
compare_scenario() {
    name=$1; api_ms=${API_MS:-$2}; shift 2
    start_nginx nginx-api.conf "$(awk -v m="$api_ms" 'BEGIN {print m / 1000}')" "$API_PATH"
    compare_side ours "$name" "$api_ms" "$@"
    if [ -n "${GO_BRIDGE:-}" ]; then
        compare_side go "$name" "$api_ms" "$@"
    else
        echo "$name: side=go skipped (GO_BRIDGE not set)" | tee -a "$RESULTS"
    fi
    stop_nginx
}
echo "# $(date -u +%FT%TZ) $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null) $(nproc) cores" >> "$RESULTS"

# fanout_side LABEL STYLE PUSH_HOSTPORT TARGET [bench args]: one side of `fanout`, the bridge already running.
fanout_side() {
    label=$1; style=$2; push=$3; target=$4; shift 4
    echo "[$label] $(awk '/MemAvailable/ {printf "mem_available_mb=%d", $2/1024}' /proc/meminfo) bridge_pid=$BRIDGE_PID"
    cpu0=$(awk '{print $14 + $15}' "/proc/$BRIDGE_PID/stat")
    out=$("$BUILD/bench/ws2api-bench-fanout" --target "$target" --push "$push" --clients "${FANOUT_CLIENTS:-19000}" \
        --style "$style" --pushes "${FANOUT_PUSHES:-20}" --stream-seconds "${FANOUT_STREAM:-10}" \
        --message-bytes "${FANOUT_BYTES:-64}" --bridge-pid "$BRIDGE_PID" --label "$label" --max-run 600 "$@" 2>&1) || true
    cpu1=$(awk '{print $14 + $15}' "/proc/$BRIDGE_PID/stat" 2>/dev/null || echo "$cpu0")
    line=$(printf '%s\n' "$out" | grep "^label=$label " | tail -1)
    [ -n "$line" ] || { line="label=$label bench_failed=1"; printf '%s\n' "$out" | tail -5; }
    line="$line bridge_cpu_s=$(awk -v a="$cpu0" -v b="$cpu1" -v t="$(getconf CLK_TCK)" 'BEGIN {printf "%.1f", (b - a) / t}')"
    echo "fanout: $line" | tee -a "$RESULTS"
    stop_bridge "$BRIDGE_PID"
    sleep 2
}

if [ "${1:-}" = fanout ]; then
    [ -x "$BUILD/bench/ws2api-bench-fanout" ] && [ -x "$BRIDGE" ] || { echo "build first: installer/build.sh"; exit 1; }
    [ -z "${GO_BRIDGE:-}" ] || [ -x "$GO_BRIDGE" ] || { echo "GO_BRIDGE=$GO_BRIDGE is not executable"; exit 1; }
    echo "# fanout: GO_BRIDGE=${GO_BRIDGE:-unset} clients=${FANOUT_CLIENTS:-19000} bytes=${FANOUT_BYTES:-64}" >> "$RESULTS"
    start_nginx nginx-api.conf 0 "$API_PATH"
    groups=${FANOUT_GROUPS:-1}
    UPSTREAM_PATH=$API_PATH start_bridge 7101 7102 --set groups.max_per_client=$((groups + 1))
    fanout_side ours-group group 127.0.0.1:7102 127.0.0.1:7101 --groups-per-client "$groups"
    UPSTREAM_PATH=$API_PATH start_bridge 7101 7102
    fanout_side ours-single single 127.0.0.1:7102 127.0.0.1:7101
    if [ -n "${GO_BRIDGE:-}" ]; then
        args=$(printf '%s' "$GO_ARGS" | sed -e "s|{listen}|127.0.0.1:$GO_PORT|g" \
            -e "s|{upstream}|http://127.0.0.1:$NGINX_PORT$API_PATH|g")
        # shellcheck disable=SC2086 # GO_ARGS is a word list
        "$GO_BRIDGE" $args > "$WORK/go-fanout.log" 2>&1 &
        BRIDGE_PID=$!
        PIDS="$PIDS $BRIDGE_PID"
        sleep 1
        fanout_side go-single single 127.0.0.1:$GO_PORT 127.0.0.1:$GO_PORT
    else
        echo "fanout: label=go-single skipped (GO_BRIDGE not set)" | tee -a "$RESULTS"
    fi
    stop_nginx
    echo "results appended to $RESULTS"
    exit 0
fi

# start_go_bridge LOG: the bridge in $GO_BRIDGE with $GO_ARGS, on 127.0.0.1:$GO_PORT, calling the nginx
# API; sets BRIDGE_PID; returns 1 (bridge stopped) if it does not answer GET / within 5 s.
start_go_bridge() {
    args=$(printf '%s' "$GO_ARGS" | sed -e "s|{listen}|127.0.0.1:$GO_PORT|g" \
        -e "s|{upstream}|http://127.0.0.1:$NGINX_PORT$API_PATH|g")
    # shellcheck disable=SC2086 # GO_ARGS is a word list
    "$GO_BRIDGE" $args > "$1" 2>&1 &
    BRIDGE_PID=$!
    PIDS="$PIDS $BRIDGE_PID"
    for _try in $(seq 50); do
        curl -sf "http://127.0.0.1:$GO_PORT/" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "$GO_BRIDGE did not answer on 127.0.0.1:$GO_PORT:"; tail -5 "$1"; stop_bridge "$BRIDGE_PID"; return 1
}

# tree_cpu PID: utime + stime (clock ticks) of PID and its child processes (the generator forks).
tree_cpu() {
    awk -v p="$1" '{ sub(/^.*\) /, ""); if ($0 != "" && (FILENAME ~ "/" p "/stat$" || $2 == p)) s += $12 + $13 }
        END { print s + 0 }' /proc/[0-9]*/stat 2>/dev/null
}

# push_mode SIDE MODE WS_HOSTPORT PUSH_HOSTPORT: one line of `push`, the bridge (BRIDGE_PID) running.
# Fresh clients for every mode (so each mode's count is its own), then wrk for DURATION s.
push_mode() {
    side=$1; mode=$2; ws=$3; push=$4
    label=push-$mode; hold=$WORK/hold-$side-$mode.log; wrklog=$WORK/wrk-$side-$mode.log
    case $mode in keepalive) style=single per=1 ;; close) style=close per=1 ;; batch) style=batch per=$PUSH_BATCH ;; esac
    "$BENCH" --target "$ws" --clients "$PUSH_CLIENTS" --mode hold --id-prefix push- --duration $((DURATION + 120)) \
        --label "$label" --max-run $((DURATION + 180)) > "$hold" 2>&1 &
    HOLD_PID=$!; PIDS="$PIDS $HOLD_PID"
    for _try in $(seq 600); do
        grep -q "^$label: ramped" "$hold" 2>/dev/null && break
        kill -0 "$HOLD_PID" 2>/dev/null || break
        sleep 0.1
    done
    sleep 1 # the Go original adds a client to its map after writing the 101
    open=$(curl -s --max-time 5 "http://$push/" | awk '/^connections_open / {n=$2}
        /^connections_opened(_total)? / {o=$2} /^connections_closed(_total)? / {c=$2}
        END {print n != "" ? n : o != "" ? o - c : "?"}') # the bridge's own count (Go: opened - closed)
    tck=$(getconf CLK_TCK)
    cpu0=$(awk '{print $14 + $15}' "/proc/$BRIDGE_PID/stat")
    hold0=$(tree_cpu "$HOLD_PID")
    box0=$(awk '/^cpu / {print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8; exit}' /proc/stat)
    opens0=$(awk '/^Tcp:/ {if (h) {print $6; exit} h=1}' /proc/net/snmp)
    timeout $((DURATION + 30)) wrk -t "$PUSH_THREADS" -c "$PUSH_CONNECTIONS" -d "${DURATION}s" --timeout 10s \
        -s "$ROOT/bench/push.lua" "http://$push" -- "$style" push- "$PUSH_CLIENTS" "$PUSH_BATCH" > "$wrklog" 2>&1 || true
    cpu1=$(awk '{print $14 + $15}' "/proc/$BRIDGE_PID/stat" 2>/dev/null || echo "$cpu0")
    hold1=$(tree_cpu "$HOLD_PID")
    box1=$(awk '/^cpu / {print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8; exit}' /proc/stat)
    # Share of the box's CPU time that was busy over the window (all cores), and the clients' CPU.
    box_busy=$(echo "$box0 $box1" | awk '{b = $3 - $1; t = $4 - $2; printf "%.1f", (t > 0 ? 100 * b / t : 0)}')
    opens1=$(awk '/^Tcp:/ {if (h) {print $6; exit} h=1}' /proc/net/snmp)
    sleep 1 # what is on its way reaches the clients
    kill -USR1 "$HOLD_PID" 2>/dev/null || true
    wait "$HOLD_PID" 2>/dev/null || true
    forget "$HOLD_PID"
    holdline=$(grep "^$label: mode=hold" "$hold" | tail -1)
    wrkline=$(grep '^push-wrk: ' "$wrklog" | tail -1)
    if [ -z "$holdline" ] || [ -z "$wrkline" ]; then
        line="$label: side=$side bench_failed=1"; tail -3 "$hold" "$wrklog"
    else
        line=$(printf '%s\n%s\n' "$holdline" "$wrkline" | awk -v side="$side" -v mode="$mode" -v label="$label" \
            -v per="$per" -v conns="$PUSH_CONNECTIONS" -v clients="$PUSH_CLIENTS" -v open="${open:-?}" \
            -v cpu="$(( cpu1 - cpu0 ))" -v tck="$tck" -v opens="$(( opens1 - opens0 ))" \
            -v holdcpu="$(( hold1 - hold0 ))" -v busy="$box_busy" '
            { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
            END {
                ok = v["requests"] - v["non_2xx_3xx"]; s = v["duration_us"] / 1e6; msgs = ok * per
                sock = v["connect_errors"] + v["read_errors"] + v["write_errors"] + v["timeouts"]
                printf "%s: side=%s mode=%s clients=%d reached=%d bridge_open=%s connections=%d duration_s=%.1f", \
                    label, side, mode, clients, v["reached"], open, conns, s
                printf " requests=%d ok_200=%d pushes_per_s=%.0f", v["requests"], ok, (s > 0 ? ok / s : 0)
                if (per > 1) printf " batch=%d msgs=%d msgs_per_s=%.0f", per, msgs, (s > 0 ? msgs / s : 0)
                printf " non_200=%d socket_errors=%d connect_errors=%d read_errors=%d write_errors=%d timeouts=%d", \
                    v["non_2xx_3xx"], sock, v["connect_errors"], v["read_errors"], v["write_errors"], v["timeouts"]
                printf " accepted_conns=%d received=%d received_minus_200=%d client_errors=%d", opens, v["msgs"], \
                    v["msgs"] - msgs, v["conn_errors"] + v["empty"] + v["error_replies"]
                printf " bridge_cpu_s=%.2f bridge_cpu_us_per_%s=%s clients_cpu_us_per_msg=%s box_busy_pct=%s", cpu / tck, \
                    (per > 1 ? "msg" : "push"), (msgs > 0 ? sprintf("%.1f", cpu / tck * 1e6 / msgs) : "n/a"), \
                    (msgs > 0 ? sprintf("%.1f", holdcpu / tck * 1e6 / msgs) : "n/a"), busy
                printf " p50_ms=%s p99_ms=%s max_ms=%s\n", v["p50_ms"], v["p99_ms"], v["max_ms"]
            }')
    fi
    echo "$line" | tee -a "$RESULTS"
    sleep 2 # the clients' closes (and their DELETEs upstream) wind down
}

if [ "${1:-}" = push ]; then
    # Pushes to connected clients: 2,000 clients hold a connection and read; wrk POSTs small
    # messages to random ClientIds over 32 connections, keep-alive or one connection per push,
    # against ws2api's internal listener and the Go original's public port (it takes pushes
    # there), and for ws2api also as batches. Each mode has fresh clients and its own window.
    shift
    [ -x "$BENCH" ] && [ -x "$BRIDGE" ] || { echo "build first: installer/build.sh"; exit 1; }
    command -v wrk >/dev/null || { echo "push: needs wrk (apt-get install wrk)"; exit 1; }
    [ -z "${GO_BRIDGE:-}" ] || [ -x "$GO_BRIDGE" ] || { echo "GO_BRIDGE=$GO_BRIDGE is not executable"; exit 1; }
    PUSH_CLIENTS=${PUSH_CLIENTS:-2000}; PUSH_CONNECTIONS=${PUSH_CONNECTIONS:-32}
    PUSH_THREADS=${PUSH_THREADS:-2}; PUSH_BATCH=${PUSH_BATCH:-100}
    modes=${*:-keepalive close batch}
    for m in $modes; do
        case $m in keepalive | close | batch) ;; *) echo "unknown push mode $m"; exit 64 ;; esac
    done
    echo "# push: $(date -u +%FT%TZ) $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null) GO_BRIDGE=${GO_BRIDGE:-unset} GO_ARGS=$GO_ARGS clients=$PUSH_CLIENTS connections=$PUSH_CONNECTIONS threads=$PUSH_THREADS batch=$PUSH_BATCH DURATION=$DURATION $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)" >> "$RESULTS"
    start_nginx nginx-api.conf 0 "$API_PATH"
    rm -f "$WORK/bridge-7101.db"*
    UPSTREAM_PATH=$API_PATH start_bridge 7101 7102
    for m in $modes; do push_mode ours "$m" 127.0.0.1:7101 127.0.0.1:7102; done
    stop_bridge "$BRIDGE_PID"
    if [ -z "${GO_BRIDGE:-}" ]; then
        echo "push: side=go skipped (GO_BRIDGE not set)" | tee -a "$RESULTS"
    elif start_go_bridge "$WORK/go-push.log"; then
        for m in $modes; do
            if [ "$m" = batch ]; then
                echo "push-batch: side=go skipped (the Go original has no batch push)" | tee -a "$RESULTS"
            else
                push_mode go "$m" "127.0.0.1:$GO_PORT" "127.0.0.1:$GO_PORT"
            fi
        done
        stop_bridge "$BRIDGE_PID"
    fi
    stop_nginx
    echo "results appended to $RESULTS"
    exit 0
fi

# upstream-tls: the same bridge, the same nginx API (instant), closed loop, over
# http:// and then https:// (TLS 1.3, ECDSA P-256 certificate made here with the
# openssl CLI; the bridge verifies it with upstream.ca_file). One line per side.
if [ "${1:-}" = upstream-tls ]; then
    [ -x "$BENCH" ] && [ -x "$BRIDGE" ] || { echo "build first: installer/build.sh"; exit 1; }
    NGINX_TLS_PORT=${NGINX_TLS_PORT:-18443}
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=bench CA" \
        -keyout "$WORK/ca.key" -out "$WORK/ca.crt" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
        -keyout "$WORK/api.key" -out "$WORK/api.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > "$WORK/api.ext"
    openssl x509 -req -in "$WORK/api.csr" -CA "$WORK/ca.crt" -CAkey "$WORK/ca.key" -CAcreateserial -days 2 \
        -extfile "$WORK/api.ext" -out "$WORK/api.crt" 2>/dev/null
    clients=${TLS_CLIENTS:-1000}
    echo "# upstream-tls: clients=$clients DURATION=$DURATION" >> "$RESULTS"
    start_nginx nginx-api.conf 0 "$API_PATH"
    UPSTREAM_BASE=http://127.0.0.1:$NGINX_PORT compare_side ours upstream-http 0 \
        --clients "$clients" --mode closed --duration "$DURATION"
    UPSTREAM_BASE=https://127.0.0.1:$NGINX_TLS_PORT BRIDGE_EXTRA="--set upstream.ca_file=$WORK/ca.crt" \
        compare_side ours upstream-https 0 --clients "$clients" --mode closed --duration "$DURATION"
    stop_nginx
    echo "results appended to $RESULTS"
    exit 0
fi

if [ "${1:-}" = compare ]; then
    shift
    [ -x "$BENCH" ] && [ -x "$BRIDGE" ] || { echo "build first: installer/build.sh"; exit 1; }
    [ -z "${GO_BRIDGE:-}" ] || [ -x "$GO_BRIDGE" ] || { echo "GO_BRIDGE=$GO_BRIDGE is not executable"; exit 1; }
    echo "# compare: GO_BRIDGE=${GO_BRIDGE:-unset} GO_ARGS=$GO_ARGS API_PATH=$API_PATH DURATION=$DURATION" >> "$RESULTS"
    for s in ${*:-c2000-50ms c10000-50ms c1000-instant r19000-50ms}; do
        case $s in
        c2000-50ms) compare_scenario "$s" 50 --clients 2000 --mode closed --duration "$DURATION" ;;
        c10000-50ms) compare_scenario "$s" 50 --clients 10000 --mode closed --duration "$DURATION" --procs 2 ;;
        c1000-instant) compare_scenario "$s" 0 --clients 1000 --mode closed --duration "$DURATION" ;;
        r19000-50ms) compare_scenario "$s" 50 --clients 19000 --mode ramp --interval-ms 10000 --ramp-rate 5000 \
            --duration "$DURATION" --procs 2 ;;
        r19000-open-50ms) compare_scenario "$s" 50 --clients 19000 --mode ramp --interval-ms 10000 --ramp-rate 5000 \
            --duration "$DURATION" --procs 2 --from-open ;;
        *) echo "unknown compare scenario $s"; exit 64 ;;
        esac
    done
    echo "results appended to $RESULTS"
    exit 0
fi

if [ "${1:-}" = examples-php ]; then
    # The PHP example (examples/php: nginx + PHP-FPM, plain PHP) as the API, next to the
    # nginx echo API, same run, same bridge settings (a push token, as a real API has):
    # 19,000 clients x 1 message per 10 s. Each client is alone in its room (room=<ClientId>),
    # so every message costs PHP one group push to the bridge plus the reply, and no
    # fan-out frames mix with the replies the generator times; connects and closes cost
    # PHP one push each (join, leave). PHP-FPM: pm=static, PHP_WORKERS (16) workers.
    [ -x "$BENCH" ] && [ -x "$BRIDGE" ] || { echo "build first: installer/build.sh"; exit 1; }
    php_workers=${PHP_WORKERS:-16} # (compare_side sets $workers)
    args="--clients ${CLIENTS:-19000} --mode ramp --interval-ms 10000 --ramp-rate ${RAMP_RATE:-1000} --duration $DURATION --procs 2"
    echo "# examples-php: CLIENTS=${CLIENTS:-19000} PHP_WORKERS=$php_workers DURATION=$DURATION RAMP_RATE=${RAMP_RATE:-1000} UPSTREAM_CONNECTIONS=${UPSTREAM_CONNECTIONS:-64}" >> "$RESULTS"
    API_PATH=/ws/
    # Requests in flight to the API: 64 (UPSTREAM_CONNECTIONS) for both sides, sized for 16
    # workers. The default 4,096 lets the bridge open hundreds of connections to a slower API,
    # and with 19,000 clients in a 20,000-descriptor process those cost clients (503).
    BRIDGE_ARGS="--set push.token=bench-token --set upstream.max_connections=${UPSTREAM_CONNECTIONS:-64}"
    side_keys() { echo " api=nginx-echo"; }
    start_nginx nginx-api.conf 0 "$API_PATH"
    # shellcheck disable=SC2086 # args is a word list
    compare_side ours examples-php-nginx-echo 0 $args
    stop_nginx
    PORT=$NGINX_PORT PHP_WORKERS=$php_workers PHP_PM=static WS2API_INTERNAL_URL=http://127.0.0.1:7102 \
        WS2API_PUSH_TOKEN=bench-token "$ROOT/examples/php/run.sh" > "$WORK/php.log" 2>&1 &
    PHP_PID=$!
    PIDS="$PIDS $PHP_PID"
    for _try in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$NGINX_PORT/fpm-status" && break; sleep 0.1; done
    # nginx master + workers, PHP-FPM master + workers: the API's CPU
    API_PIDS=$(for p in $(ps -o pid= --ppid "$PHP_PID"); do echo "$p"; ps -o pid= --ppid "$p"; done | tr -s ' \n' ',' | sed 's/^,//;s/,$//')
    side_keys() {
        curl -s "http://127.0.0.1:$NGINX_PORT/fpm-status" | awk -v w="$php_workers" -F': *' '
            /^accepted conn/ {a=$2} /^max active processes/ {m=$2} /^max children reached/ {r=$2} /^max listen queue/ {q=$2}
            END {printf " api=php-fpm php_workers=%s php_max_active=%s php_max_children_reached=%s php_max_listen_queue=%s php_requests=%s", w, m, r, q, a}'
    }
    # shellcheck disable=SC2086
    compare_side ours examples-php-fpm 0 $args --query 'room={id}&name=bench' --message '{"text":"hello from the bench"}' --expect ''
    kill -TERM "$PHP_PID"; wait "$PHP_PID" 2>/dev/null || true; forget "$PHP_PID"
    echo "results appended to $RESULTS"
    exit 0
fi

if [ "${1:-}" = timers ]; then
    # Per-process scaling without sockets (no nginx, no bridge process): one
    # line per count, docs/BENCHMARKS.md "Per-process scaling".
    shift
    [ -x "$BUILD/bench/ws2api-timer-bench" ] || { echo "build first: installer/build.sh"; exit 1; }
    "$BUILD/bench/ws2api-timer-bench" --results "$RESULTS" "$@"
    echo "results appended to $RESULTS"
    exit 0
fi

if [ "${1:-}" = tls-memory ]; then
    # What OpenSSL keeps per idle wss:// connection with the bridge's own server context
    # (ws2api-tls-memory-bench: counting allocation hooks, socketpairs, no bridge process),
    # over TLS 1.3 and TLS 1.2, with an ECDSA P-256 certificate made here. The bridge's RSS
    # per connection is the tls scenario's idle-native line.
    shift
    [ -x "$BUILD/bench/ws2api-tls-memory-bench" ] || { echo "build first: installer/build.sh"; exit 1; }
    localhost_certificate
    for version in 1.3 1.2; do
        "$BUILD/bench/ws2api-tls-memory-bench" --cert "$WORK/tls.crt" --key "$WORK/tls.key" --tls-version $version \
            --label "tls-memory-$version" --results "$RESULTS" "$@"
    done
    echo "results appended to $RESULTS"
    exit 0
fi

if [ "${1:-}" = tls ]; then
    # Issue 12: wss:// natively against HAProxy terminating TLS in front of a plain
    # ws2api (the setup the Go original recommends), same box, same run, one nginx API,
    # one ECDSA P-256 certificate (made here with the openssl CLI, self-signed for
    # localhost; the generator verifies it: ws2api-bench --tls).
    #   idle-<side>:    TLS_IDLE_CLIENTS (19,000) clients, no messages: bridge memory per connection
    #                   (native wss:// and plain ws://, for the difference)
    #   closed-<side>:  TLS_CLIENTS (1,000) clients closed loop for DURATION s: msg/s and CPU per
    #                   message (HAProxy side: ws2api + HAProxy together, --bridge-pid both)
    #   connect-<side>: TLS_CONNECT_CLIENTS (5,000) new connections as fast as they go: full
    #                   handshakes per second (TCP + TLS + WebSocket upgrade + the API's GET)
    shift
    [ -x "$BENCH" ] && [ -x "$BRIDGE" ] || { echo "build first: installer/build.sh"; exit 1; }
    command -v haproxy >/dev/null || { echo "tls: needs haproxy (apt-get install haproxy)"; exit 1; }
    idle=${TLS_IDLE_CLIENTS:-19000}; closed=${TLS_CLIENTS:-1000}; connects=${TLS_CONNECT_CLIENTS:-5000}
    localhost_certificate
    cat "$WORK/tls.crt" "$WORK/tls.key" > "$WORK/tls.pem"
    cat > "$WORK/haproxy.cfg" <<HAPROXY
global
    maxconn 9000
defaults
    mode http
    timeout connect 5s
    timeout http-request 10s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
frontend wss
    bind 127.0.0.1:7103 ssl crt $WORK/tls.pem alpn http/1.1
    default_backend bridge
backend bridge
    server b1 127.0.0.1:7101
HAPROXY
    echo "# tls: $(date -u +%FT%TZ) $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null) idle=$idle closed=$closed connects=$connects duration=$DURATION $(haproxy -v | head -1 | cut -d' ' -f1-3) $(openssl version)" | tee -a "$RESULTS"
    start_nginx
    tls_side() { # tls_side native|haproxy|plain LABEL BENCH_ARGS...: one bridge (and HAProxy), one bench line
        side=$1; label=$2; shift 2
        rm -f "$WORK/bridge-7101.db"*
        if [ "$side" = native ]; then
            start_bridge 7101 7102 --set tls.cert_file="$WORK/tls.crt" --set tls.key_file="$WORK/tls.key"
        else
            start_bridge 7101 7102
        fi
        pids=$BRIDGE_PID; target=127.0.0.1:7101; tls="--tls $WORK/tls.crt"
        if [ "$side" = haproxy ]; then
            haproxy -f "$WORK/haproxy.cfg" -db > "$WORK/haproxy.log" 2>&1 &
            HAPROXY_PID=$!; PIDS="$PIDS $HAPROXY_PID"; pids="$BRIDGE_PID,$HAPROXY_PID"; target=127.0.0.1:7103
            for _try in $(seq 50); do
                curl -sk -o /dev/null https://127.0.0.1:7103/ 2>/dev/null && break
                sleep 0.1
            done
        fi
        [ "$side" = plain ] && tls=""
        "$BENCH" --target "$target" $tls --bridge-pid "$pids" --label "tls-$label-$side" --results "$RESULTS" "$@" || true
        if [ "$side" = haproxy ]; then
            kill -TERM "$HAPROXY_PID" 2>/dev/null || true; wait "$HAPROXY_PID" 2>/dev/null || true; forget "$HAPROXY_PID"
        fi
        stop_bridge "$BRIDGE_PID"
    }
    # HAProxy would need two descriptors per idle client (38,000 > this box's 20,000 per process):
    # the idle memory is ws2api's own, with and without TLS.
    for side in plain native; do
        tls_side $side idle --clients "$idle" --mode ramp --interval-ms 600000 --duration 20 --ramp-rate 5000
    done
    for side in native haproxy; do
        tls_side $side closed --clients "$closed" --mode closed --duration "$DURATION" --expect pong
    done
    for side in native haproxy; do
        tls_side $side connect --clients "$connects" --mode connect --max-connecting 500
    done
    stop_nginx
    echo "results appended to $RESULTS"
    exit 0
fi

if [ "${1:-}" = soak ]; then
    # Issue 27: an hour of churn, pushes and API restarts against one bridge with its defaults
    # (bench/soak.py: the API is its child process, killed every SOAK_OUTAGE_EVERY s for
    # SOAK_OUTAGE_S s; SIGHUP every 5 min, a live key change every 10 min). Samples RSS,
    # descriptors and upstream connections every 10 s into $RESULTS.soak.csv; one summary line.
    #   SOAK_S (3600) SOAK_CLIENTS (500) SOAK_CHURN (10 reconnects/s) SOAK_PUSHES (200/s)
    #   SOAK_OUTAGE_EVERY (60) SOAK_OUTAGE_S (2) SOAK_API_PORT (18180)
    api_port=${SOAK_API_PORT:-18180}
    "$BRIDGE" token create soak --db "$WORK/bridge-7101.db" > "$WORK/token"
    UPSTREAM_BASE=http://127.0.0.1:$api_port start_bridge 7101 7102 # waits for its internal listener only
    /usr/bin/python3 "$ROOT/bench/soak.py" --bridge-pid "$BRIDGE_PID" --public 7101 --internal 7102 --api-port "$api_port" \
        --api-log "$WORK/soak-api.log" --token "$(cat "$WORK/token")" --seconds "${SOAK_S:-3600}" \
        --clients "${SOAK_CLIENTS:-500}" --churn "${SOAK_CHURN:-10}" --pushes "${SOAK_PUSHES:-200}" \
        --outage-every "${SOAK_OUTAGE_EVERY:-60}" --outage-s "${SOAK_OUTAGE_S:-2}" \
        --results "$RESULTS" && status=0 || status=$?
    curl -s http://127.0.0.1:7102/metrics | grep -E '^(upstream_(connects|connect_failures|delete_retries|deletes_abandoned)|requests_(started|failed)|pushes_(delivered|failed|not_found))_total' \
        | tr '\n' ' ' | tee -a "$RESULTS"; echo | tee -a "$RESULTS"
    stop_bridge $BRIDGE_PID
    echo "soak exit $status; results appended to $RESULTS (samples: $RESULTS.soak.csv)"
    exit $status
fi

if [ "${1:-}" = million ]; then
    # Issue 16: up to a million clients, each sending one message per 30 s, with pings on, for
    # at least 5 minutes, against one nginx API; the bridge side is many bridge processes (one
    # loop each, MILLION_PER_BRIDGE clients each: this box allows 20,000 open files per
    # process), the generator side as many ws2api-bench processes (it forks them itself).
    # Steps up to MILLION_CLIENTS; a step stops (and says so) when MemAvailable falls under
    # MILLION_MIN_FREE_MB, and the steps after it are skipped.
    #   bench/run.sh million                       # steps 100k 250k 500k 1M, instant API
    #   MILLION_STEPS=1000000 MILLION_API_MS=50 bench/run.sh million   # the million, API answering after 50 ms
    # Environment: MILLION_STEPS ("100000 250000 500000 1000000"), MILLION_PER_BRIDGE (18000),
    #   MILLION_INTERVAL_MS (30000), MILLION_DURATION (300 s of traffic after the ramp),
    #   MILLION_RAMP_RATE (5000 new connections/s in all), MILLION_API_MS (0), MILLION_SOURCES (200),
    #   MILLION_MIN_FREE_MB (3072), NGINX_WORKERS (2 here), MILLION_BRIDGE_ARGS (extra --set ...),
    #   MILLION_PROFILE_S (0: off; see profile_step below), MILLION_EHASH (see below).
    # As root it sets the kernel settings of docs/TUNING.md section 5 for the run and puts the
    # old values back at the end; otherwise they must be set already.
    shift
    [ -x "$BENCH" ] && [ -x "$BRIDGE" ] || { echo "build first: installer/build.sh"; exit 1; }
    steps=${MILLION_STEPS:-100000 250000 500000 1000000}
    per_bridge=${MILLION_PER_BRIDGE:-18000}
    interval=${MILLION_INTERVAL_MS:-30000}
    duration=${MILLION_DURATION:-300}
    ramp_rate=${MILLION_RAMP_RATE:-5000}
    api_ms=${MILLION_API_MS:-0}
    sources=${MILLION_SOURCES:-200}
    min_free=${MILLION_MIN_FREE_MB:-3072}
    NGINX_WORKERS=${NGINX_WORKERS_MILLION:-2}
    SYSCTLS="net.ipv4.ip_local_port_range=1024 65535|net.core.somaxconn=65535|net.ipv4.tcp_max_syn_backlog=65535|fs.file-max=4194304|net.ipv4.tcp_mem=1572864 2097152 3145728"
    OLD_SYSCTLS=""
    if [ "$(id -u)" = 0 ]; then
        IFS='|'
        for kv in $SYSCTLS; do
            k=${kv%%=*}
            [ -e "/proc/sys/$(echo "$k" | tr . /)" ] || continue # tcp_mem: host-wide, not in a namespace
            OLD_SYSCTLS="$OLD_SYSCTLS${OLD_SYSCTLS:+|}$k=$(sysctl -n "$k" | tr '\t' ' ')"
            sysctl -q -w "$kv" >/dev/null
        done
        unset IFS
        restore_sysctls() { IFS='|'; for kv in $OLD_SYSCTLS; do sysctl -q -w "$kv" >/dev/null || true; done; unset IFS; }
        trap 'restore_sysctls; cleanup' EXIT INT TERM
    fi
    # MILLION_EHASH=N (root, kernel 6.1+): run the scenario in a new network namespace whose
    # TCP established-connection hash table has N buckets (net.ipv4.tcp_child_ehash_entries;
    # the host's table is sized at boot from RAM: net.ipv4.tcp_ehash_entries, 262,144 on a
    # 24 GB box, i.e. ~8 sockets per bucket with a million loopback connections). Everything
    # (bridges, nginx, generator) runs in that namespace on its own loopback.
    if [ -n "${MILLION_EHASH:-}" ] && [ -z "${MILLION_IN_NETNS:-}" ]; then
        [ "$(id -u)" = 0 ] || { echo "million: MILLION_EHASH needs root"; exit 1; }
        old_child=$(sysctl -n net.ipv4.tcp_child_ehash_entries) || { echo "million: this kernel has no net.ipv4.tcp_child_ehash_entries"; exit 1; }
        sysctl -q -w net.ipv4.tcp_child_ehash_entries="$MILLION_EHASH"
        status=0
        MILLION_TCP_MEM=$(sysctl -n net.ipv4.tcp_mem | tr '\t' ',') unshare --net env MILLION_IN_NETNS=1 sh -c 'ip link set lo up && echo "million: in a new network namespace, ehash buckets $(sysctl -n net.ipv4.tcp_ehash_entries)" && exec "$0" million "$@"' "$0" "$@" || status=$?
        sysctl -q -w net.ipv4.tcp_child_ehash_entries="$old_child"
        exit $status # (the EXIT trap puts the host-wide settings back)
    fi
    # MILLION_PROFILE_S=S: once the step's bridges hold 99 % of its clients (or their count has
    # not grown for 10 checks: a ramp that ended short), wait 20 s, then
    # profile the whole box for S seconds (perf record -a, cpu-clock, call graphs) and count
    # the syscalls of one bridge process; a "profile" line per process kind (share of all
    # samples, user and kernel) and the bridge's syscalls per message go to the results,
    # with KEEP=1 the perf data stays in $WORK/perf-<label>.data for perf report.
    profile_step() { # LABEL CLIENTS BRIDGES (in the background, during the step)
        plabel=$1; pclients=$2; pbridges=$3
        last=0; still=0
        for _try in $(seq 1200); do
            held=0
            for i in $(seq "$pbridges"); do
                n=$(curl -s --max-time 2 http://127.0.0.1:$((7600 + i))/ | awk '/^connections_open /{print $2}')
                held=$((held + ${n:-0}))
            done
            [ "$held" -ge $((pclients * 99 / 100)) ] && break
            # A ramp that ends short (clients timed out in the handshake): held stops growing.
            if [ "$held" -gt 0 ] && [ "$held" -le "$last" ]; then still=$((still + 1)); else still=0; fi
            [ "$still" -ge 10 ] && break
            last=$held
            sleep 1
        done
        sleep 20
        one=$(pgrep -f -- "--listen 127.0.0.1:7401 " | head -1)
        msgs0=$(curl -s http://127.0.0.1:7601/ | awk '/^messages_received_total /{print $2}')
        perf stat -e 'syscalls:sys_enter_epoll_wait,syscalls:sys_enter_read,syscalls:sys_enter_write,syscalls:sys_enter_writev,syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto,syscalls:sys_enter_sendmsg,syscalls:sys_enter_epoll_ctl,syscalls:sys_enter_accept4,syscalls:sys_enter_connect' \
            -p "$one" -x, -o "$WORK/syscalls-$plabel.csv" -- sleep "$MILLION_PROFILE_S" 2>/dev/null &
        stat_pid=$!
        perf record -a -g -F 199 -o "$WORK/perf-$plabel.data" -- sleep "$MILLION_PROFILE_S" >/dev/null 2>&1
        wait "$stat_pid" 2>/dev/null || true
        msgs1=$(curl -s http://127.0.0.1:7601/ | awk '/^messages_received_total /{print $2}')
        {
            printf '%s: profile %s s of the whole box (perf record -a, cpu-clock), share of all samples by process kind:' "$plabel" "$MILLION_PROFILE_S"
            perf report -i "$WORK/perf-$plabel.data" --stdio --no-children --sort comm 2>/dev/null |
                awk '/^ *[0-9.]+%/{gsub("%","",$1); c=$2; k="other"; if(c~/^ws2api-bench/)k="generator"; else if(c~/^ws2api/)k="bridge"; else if(c~/^nginx/)k="api"; else if(c~/^swapper/)k="idle"; s[k]+=$1; if(k=="other")o[c]+=$1} END{for(k in s) printf " %s=%.1f%%", k, s[k]; printf " (other:"; for(c in o) if(o[c]>=0.5) printf " %s=%.1f%%", c, o[c]; printf ")\n"}'
            printf '%s: profile kernel share (ring 0) by process kind:' "$plabel"
            perf report -i "$WORK/perf-$plabel.data" --stdio --no-children --sort comm,dso 2>/dev/null |
                awk '/^ *[0-9.]+%/{gsub("%","",$1); c=$2; k="other"; if(c~/^ws2api-bench/)k="generator"; else if(c~/^ws2api/)k="bridge"; else if(c~/^nginx/)k="api"; else if(c~/^swapper/)k="idle"; if($3~/kernel/) s[k]+=$1} END{for(k in s) printf " %s=%.1f%%", k, s[k]; printf "\n"}'
            printf '%s: one bridge (pid %s) in %s s: %s messages in,' "$plabel" "$one" "$MILLION_PROFILE_S" "$(( ${msgs1:-0} - ${msgs0:-0} ))"
            awk -F, -v m="$(( ${msgs1:-0} - ${msgs0:-0} ))" '$3~/sys_enter_/{n=$3; sub("syscalls:sys_enter_","",n); if ($1+0>0) printf " %s=%d (%.2f per message)", n, $1, (m>0?$1/m:0)} END{printf "\n"}' "$WORK/syscalls-$plabel.csv"
        } > "$WORK/profile-$plabel.tmp" && mv "$WORK/profile-$plabel.tmp" "$WORK/profile-$plabel.txt"
    }
    kernel="$(sysctl -n net.ipv4.ip_local_port_range | tr '\t' '-') somaxconn=$(sysctl -n net.core.somaxconn) file_max=$(sysctl -n fs.file-max) tcp_mem=${MILLION_TCP_MEM:-$(sysctl -n net.ipv4.tcp_mem | tr '\t' ',')} ehash=$(sysctl -n net.ipv4.tcp_ehash_entries 2>/dev/null)"
    echo "# million: $(date -u +%FT%TZ) $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null) steps=[$steps] per_bridge=$per_bridge interval_ms=$interval duration_s=$duration api_ms=$api_ms nginx_workers=$NGINX_WORKERS kernel: ports=$kernel" | tee -a "$RESULTS"
    start_nginx nginx-api.conf "$(awk -v m="$api_ms" 'BEGIN{printf "%g", m/1000}')" "$API_PATH"
    api_pids=$(pgrep -d, -P "$NGINX_PID" || true)
    for clients in $steps; do
        bridges=$(( (clients + per_bridge - 1) / per_bridge ))
        # Requests in flight per bridge: its share of the message rate times the API's latency,
        # doubled, plus room for the connects of the ramp.
        inflight=$(( clients * 1000 / interval * (api_ms + 5) / 1000 / bridges * 2 + 16 ))
        targets=""; bpids=""
        for i in $(seq "$bridges"); do
            UPSTREAM_PATH=$API_PATH start_bridge $((7400 + i)) $((7600 + i)) --set server.loops=1 \
                --set upstream.max_connections=$inflight ${MILLION_BRIDGE_ARGS:-}
            targets="$targets${targets:+,}127.0.0.1:$((7400 + i))"; bpids="$bpids${bpids:+,}$BRIDGE_PID"
        done
        procs=$(( (clients + 19899) / 19900 ))
        rate=$(( ramp_rate / procs )); [ "$rate" -ge 1 ] || rate=1
        label="million-${clients}-api${api_ms}ms"
        echo "$label: $bridges bridges (upstream.max_connections=$inflight each), $procs generator processes at $rate connections/s each, $sources source addresses"
        if [ "${MILLION_PROFILE_S:-0}" -gt 0 ]; then profile_step "$label" "$clients" "$bridges" & PROFILER_PID=$!; PIDS="$PIDS $PROFILER_PID"; fi
        status=0
        "$BENCH" --target "$targets" --clients "$clients" --mode ramp --interval-ms "$interval" --duration "$duration" \
            --ramp-rate "$rate" --sources "$sources" --spread even --expect pong --max-connecting 200 \
            --bridge-pid "$bpids" --api-pid "$api_pids" --min-free-mb "$min_free" --label "$label" \
            --results "$RESULTS" --max-run $(( clients / ramp_rate + duration + 600 )) || status=$?
        echo "$label: sockstat $(grep '^TCP:' /proc/net/sockstat)" | tee -a "$RESULTS"
        if [ -n "${PROFILER_PID:-}" ]; then
            kill -TERM "$PROFILER_PID" 2>/dev/null || true; wait "$PROFILER_PID" 2>/dev/null || true
            forget "$PROFILER_PID"; PROFILER_PID=""
            [ -f "$WORK/profile-$label.txt" ] && cat "$WORK/profile-$label.txt" | tee -a "$RESULTS"
        fi
        failed=0
        for p in $(echo "$bpids" | tr ',' ' '); do kill -0 "$p" 2>/dev/null || failed=$((failed + 1)); done
        [ "$failed" = 0 ] || echo "$label: $failed bridge processes died during the run" | tee -a "$RESULTS"
        for p in $(echo "$bpids" | tr ',' ' '); do kill -TERM "$p" 2>/dev/null || true; done
        for p in $(echo "$bpids" | tr ',' ' '); do wait "$p" 2>/dev/null || true; forget "$p"; done
        rm -f "$WORK"/bridge-*.db*
        if [ "$status" != 0 ] || tail -n 3 "$RESULTS" | grep -q 'stopped=low_memory'; then
            echo "$label: stopped (bench exit $status); larger steps skipped" | tee -a "$RESULTS"
            break
        fi
        sleep 5 # let the kernel free the closed sockets before the next step
    done
    stop_nginx
    echo "results appended to $RESULTS"
    exit 0
fi

start_nginx
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
        # They share one nginx (worker_connections 8192): each keeps at most 1,024 connections
        # to it, so together they stay within what the API accepts (docs/TUNING.md).
        targets=""; bpids=""
        for i in 1 2 3 4 5 6; do
            start_bridge 72${i}1 72${i}2 --set server.loops=1 --set upstream.max_connections=1024
            targets="$targets${targets:+,}127.0.0.1:72${i}1"; bpids="$bpids${bpids:+,}$BRIDGE_PID"
        done
        "$BENCH" --target "$targets" --clients 95000 --mode ramp --interval-ms 10000 --duration 60 --ramp-rate 5000 \
            --sources 32 --expect pong --bridge-pid "$bpids" --label multi-6x95000 --results "$RESULTS" --max-run 900
        for p in $(echo "$bpids" | tr ',' ' '); do stop_bridge "$p"; done ;;
    deflate-memory)
        # Bytes per connection with permessage-deflate (docs/COMPRESSION.md): 19,000
        # clients x 1 message per 10 s, each offering permessage-deflate and sending
        # its message compressed; the bridge compresses every reply (threshold 0).
        # off (offer declined, messages sent plain) / shared / dedicated per window.
        for spec in "off" "shared" "dedicated 9" "dedicated 12" "dedicated 15"; do
            set -- $spec
            mode=$1; bits=${2:-15}
            if [ "$mode" = off ]; then flags=""; else flags="--compressed-messages"; fi
            start_bridge 7101 7102 --set compression.mode=$mode --set compression.window_bits=$bits \
                --set compression.threshold_bytes=0
            "$BENCH" --target 127.0.0.1:7101 --clients 19000 --mode ramp --interval-ms 10000 --duration 30 \
                --ramp-rate 5000 --expect pong --deflate "permessage-deflate; client_max_window_bits" $flags \
                --bridge-pid $BRIDGE_PID --label deflate-$mode-w$bits-19000x30s --results "$RESULTS"
            curl -s http://127.0.0.1:7102/ | grep -E '^(compression_connections|compressed_messages_(in|out)|compressed_out_(plain|wire)_bytes|protocol_errors)_total' \
                | tr '\n' ' ' | tee -a "$RESULTS"; echo | tee -a "$RESULTS"
            stop_bridge $BRIDGE_PID
        done ;;
    deflate-ratio)
        # Ratio and CPU per message on 2,000 realistic JSON messages (200-2,000 bytes, chat and
        # ticker), ws2api's codec against Node's ws (Debian's node-ws), same box, same run.
        node "$ROOT/bench/deflate-messages.js" "$WORK/messages.txt" 2000
        "$BUILD/bench/ws2api-deflate-bench" "$WORK/messages.txt" 10 | tee -a "$RESULTS"
        node "$ROOT/bench/deflate-node.js" "$WORK/messages.txt" 10 | tee -a "$RESULTS" ;;
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
