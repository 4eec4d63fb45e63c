#!/bin/bash
# Proves the ws2api packages on a clean Debian 12 without systemd as PID 1:
#   builds the .debs (configuring BUILD_DIR first if needed); lintian (no
#   errors, no warnings) and desktop-file-validate when they are installed;
#   debootstrap --variant=minbase bookworm (cached), copied to a throwaway root;
#   apt-get install ./ws2api_<v>.deb (dependencies from the mirror);
#   start the bridge the way the unit does (ExecStart=, User=, Group=,
#   EnvironmentFile=, LimitNOFILE= parsed from the installed unit) with
#   ws2api-demo-api as upstream, in a private network namespace;
#   a WebSocket client (bash /dev/tcp): handshake, echo, push; curl GET /;
#   a management token made with the CLI as the service user, the management
#   API (stats, a config change) with it, the CLI as root on the service
#   database (files stay the service user's);
#   SIGTERM -> exit 0; systemd-analyze verify / security on the unit;
#   ws2api-console .deb: its libraries resolve, --help, the GUI runs offscreen
#   against the bridge;
#   upgrade to a package built with a bumped version: database (token, stored
#   configuration), data, conffile, user kept;
#   remove (data kept), purge (data, user, group, conffile gone).
#
# Usage (as root): packaging/test-deb.sh [BUILD_DIR]    (default: build-pkg)
# Prints "SKIPPED: <reason>" and exits 0 when this machine cannot run it (not
# root, no network namespaces, /proc cannot be mounted in the chroot, the
# Debian mirror cannot be reached).
# Env: WS2API_TEST_BASE   cached debootstrap root (/var/tmp/ws2api-chroot-base)
#      WS2API_TEST_KEEP=1 keep the throwaway root
#      WS2API_UPGRADE_VERSION  version of the upgrade package (0.1.1)
#      DEBIAN_MIRROR      (http://deb.debian.org/debian)
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build-pkg}
T0=$SECONDS
BASE=${WS2API_TEST_BASE:-/var/tmp/ws2api-chroot-base}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
UPV=${WS2API_UPGRADE_VERSION:-0.1.1}
FAILS=0

say()  { printf '\n=== %s\n' "$*"; }
ok()   { printf 'ok   %s\n' "$*"; }
bad()  { printf 'FAIL %s\n' "$*"; FAILS=$((FAILS + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
inroot() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
           LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }

skip() { printf '\nSKIPPED: packaging/test-deb.sh: %s\n' "$*"; exit 0; }
[ "$(id -u)" = 0 ] || skip "needs root (debootstrap, chroot, mount, unshare)"
# The tools of this test (not build dependencies): fetched when missing.
want=""
for t in debootstrap:debootstrap lintian:lintian desktop-file-validate:desktop-file-utils; do
    command -v "${t%%:*}" >/dev/null || want="$want ${t#*:}"
done
if [ -n "$want" ]; then
    echo "installing$want"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $want >/dev/null 2>&1 \
        || echo "note: could not install$want"
fi
for tool in debootstrap unshare setpriv dpkg-deb cpack; do
    command -v "$tool" >/dev/null || skip "$tool is not installed"
done
unshare -n true 2>/dev/null || skip "cannot create a network namespace (unshare -n)"
WORK=$(mktemp -d /var/tmp/ws2api-debtest.XXXXXX)
ROOT=$WORK/root

cleanup() {
    set +e
    for m in dev/pts dev proc; do mountpoint -q "$ROOT/$m" && umount -l "$ROOT/$m"; done
    if [ "${WS2API_TEST_KEEP:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
    # Put the build dir back to its own version.
    if [ -n "${RESET_VERSION:-}" ]; then
        cmake -U WS2API_PACKAGE_VERSION "$BUILD" >/dev/null 2>&1
    fi
}
trap cleanup EXIT

# ---------------------------------------------------------------- packages
say "packages"
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
    cmake -S "$SRC" -B "$BUILD" "${gen[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
          -DCMAKE_INSTALL_PREFIX=/usr -DWS2API_BUILD_TESTS=OFF >/dev/null
fi
BUILD=$(cd "$BUILD" && pwd)
OLD_VERSION=$(sed -n 's/^WS2API_PACKAGE_VERSION:STRING=//p' "$BUILD/CMakeCache.txt")
nice -n 10 cmake --build "$BUILD" -j1
rm -f "$BUILD"/packages/*.deb
(cd "$BUILD" && cpack -G DEB >/dev/null)
DEB1=$(ls "$BUILD"/packages/ws2api_"$OLD_VERSION"-*_amd64.deb | head -1)
CDEB=$(ls "$BUILD"/packages/ws2api-console_"$OLD_VERSION"-*_amd64.deb 2>/dev/null | head -1 || true)
cp "$DEB1" ${CDEB:+"$CDEB"} "$WORK/"
if command -v lintian >/dev/null; then
    lintian -I --pedantic "$DEB1" ${CDEB:+"$CDEB"} >"$WORK/lintian.txt" 2>&1 || true
    sed 's/^/     lintian: /' "$WORK/lintian.txt"
    check "lintian: no errors, no warnings" sh -c "! grep -q '^[EW]:' '$WORK/lintian.txt'"
else
    echo "note: lintian is not installed; not checked"
fi
if [ -n "$CDEB" ] && command -v desktop-file-validate >/dev/null; then
    mkdir "$WORK/console"; dpkg-deb -x "$CDEB" "$WORK/console"
    check "desktop-file-validate ws2api-console.desktop" \
        desktop-file-validate "$WORK/console/usr/share/applications/ws2api-console.desktop"
fi
# The upgrade: same binaries, package version bumped.
RESET_VERSION=1
cmake -DWS2API_PACKAGE_VERSION="$UPV" "$BUILD" >/dev/null
cmake --build "$BUILD" -j1 >/dev/null
(cd "$BUILD" && cpack -G DEB >/dev/null)
DEB2=$(ls "$BUILD"/packages/ws2api_"$UPV"-*_amd64.deb | head -1)
mv "$DEB2" "$WORK/"
rm -f "$BUILD"/packages/ws2api-console_"$UPV"-*_amd64.deb
cmake -U WS2API_PACKAGE_VERSION "$BUILD" >/dev/null; RESET_VERSION=
cmake --build "$BUILD" -j1 >/dev/null     # regenerate changelog for $OLD_VERSION
DEB1=$WORK/$(basename "$DEB1"); DEB2=$WORK/$(basename "$DEB2")
[ -z "$CDEB" ] || CDEB=$WORK/$(basename "$CDEB")
ls -l "$DEB1" "$DEB2" ${CDEB:+"$CDEB"}

# ---------------------------------------------------------------- clean root
say "clean Debian 12 root"
if [ ! -x "$BASE/usr/bin/apt-get" ]; then
    # Into a temporary folder first: an interrupted run leaves no half root.
    rm -rf "$BASE.new"
    if ! timeout 900 debootstrap --variant=minbase bookworm "$BASE.new" "$MIRROR" >"$WORK/debootstrap.log" 2>&1; then
        tail -3 "$WORK/debootstrap.log"; rm -rf "$BASE.new"
        skip "debootstrap bookworm from $MIRROR failed (no mirror reachable?)"
    fi
    mv "$BASE.new" "$BASE"
fi
cp -a "$BASE" "$ROOT"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
mount -t proc proc "$ROOT/proc" 2>/dev/null || skip "cannot mount /proc in the chroot"
mount --bind /dev "$ROOT/dev" 2>/dev/null || skip "cannot bind-mount /dev in the chroot"
check "no systemd as PID 1 in the root" test ! -d "$ROOT/run/systemd/system"
cp "$DEB1" "$DEB2" ${CDEB:+"$CDEB"} "$ROOT/tmp/"
D1=/tmp/$(basename "$DEB1"); D2=/tmp/$(basename "$DEB2")

inroot apt-get update -q >/dev/null || skip "apt-get update in the chroot failed ($MIRROR not reachable?)"
# Tools for the test, not dependencies of the package.
inroot apt-get install -y -q --no-install-recommends curl systemd man-db >/dev/null

# ---------------------------------------------------------------- install
say "install $(basename "$DEB1")"
inroot apt-get install -y -q --no-install-recommends "$D1" </dev/null
check "dpkg: installed $OLD_VERSION" sh -c "chroot '$ROOT' dpkg-query -W -f='\${Status} \${Version}' ws2api | grep -q '^install ok installed $OLD_VERSION-'"
check "system user ws2api" sh -c "chroot '$ROOT' getent passwd ws2api | grep -q ':/var/lib/ws2api:/usr/sbin/nologin$'"
check "system group ws2api" sh -c "chroot '$ROOT' getent group ws2api >/dev/null"
check "uid is a system uid (<1000)" test "$(chroot "$ROOT" id -u ws2api)" -lt 1000
owner() { echo "$(chroot "$ROOT" id -u ws2api):$(chroot "$ROOT" id -g ws2api) 750"; }
check "/var/lib/ws2api owned by ws2api, 0750" test "$(stat -c '%u:%g %a' "$ROOT/var/lib/ws2api")" = "$(owner)"
check "conffile registered" sh -c "chroot '$ROOT' dpkg-query -W -f='\${Conffiles}' ws2api | grep -q /etc/default/ws2api"
check "unit enabled (deb-systemd-helper)" test -L "$ROOT/etc/systemd/system/multi-user.target.wants/ws2api.service"
check "template unit ws2api@.service (several bridges on one host)" test -s "$ROOT/lib/systemd/system/ws2api@.service"
check "template unit not enabled by the package" test ! -e "$ROOT/etc/systemd/system/multi-user.target.wants/ws2api@.service"
# The template's [Service] hardening and limits are the service's, line for line.
unit_tail() { sed -n '/^# \/var\/lib\/ws2api, owned by ws2api/,$p' "$1"; }
check "template unit has a [Service] hardening block" sh -c "grep -q '^NoNewPrivileges=yes' '$ROOT/lib/systemd/system/ws2api@.service'"
if [ "$(unit_tail "$ROOT/lib/systemd/system/ws2api.service")" = "$(unit_tail "$ROOT/lib/systemd/system/ws2api@.service")" ]; then
    ok "template unit: [Service] limits and hardening identical to ws2api.service"
else
    bad "template unit: hardening differs from ws2api.service"
fi
check "units: ExecReload sends SIGHUP" sh -c "grep -qx 'ExecReload=/bin/kill -HUP \$MAINPID' '$ROOT/lib/systemd/system/ws2api.service' && grep -qx 'ExecReload=/bin/kill -HUP \$MAINPID' '$ROOT/lib/systemd/system/ws2api@.service'"
check "LoadCredential drop-in example (docs/SECURITY.md)" sh -c "grep -q '^LoadCredential=internal.key:' '$ROOT/usr/share/doc/ws2api/examples/internal-tls.conf'"
check "man page" test -s "$ROOT/usr/share/man/man1/ws2api.1.gz"
check "man page documents the CLI (token create, config set, stats)" \
    sh -c "chroot '$ROOT' man -P cat ws2api 2>/dev/null | grep -q 'token create' && chroot '$ROOT' man -P cat ws2api 2>/dev/null | grep -q 'config set' && chroot '$ROOT' man -P cat ws2api 2>/dev/null | grep -q 'stats \[--minutes'"
check "docs: API.md, TUNING.md, MONITORING.md" test -s "$ROOT/usr/share/doc/ws2api/API.md" -a -s "$ROOT/usr/share/doc/ws2api/TUNING.md" -a -s "$ROOT/usr/share/doc/ws2api/MONITORING.md"
CHAT="$ROOT/usr/share/doc/ws2api/examples/chat"
check "chat examples: PHP, Python, Node and the page, run.sh executable" \
    test -x "$CHAT/php/run.sh" -a -x "$CHAT/python/run.sh" -a -x "$CHAT/node/run.sh" -a -s "$CHAT/php/index.php" \
    -a -s "$CHAT/python/app.py" -a -s "$CHAT/node/server.js" -a -s "$CHAT/web/chat.js" -a -s "$CHAT/README.md"
check "chat example unit (ws2api-chat-example.service) runs the packaged PHP example" \
    sh -c "grep -qx 'ExecStart=/usr/share/doc/ws2api/examples/chat/php/run.sh' '$ROOT/usr/share/doc/ws2api/examples/ws2api-chat-example.service'"
MON="$ROOT/usr/share/ws2api/monitoring"
check "monitoring kit: dashboard, alert rules, their tests, scrape job" \
    test -s "$MON/ws2api-dashboard.json" -a -s "$MON/ws2api-alerts.yml" -a -s "$MON/ws2api-alerts.test.yml" -a -s "$MON/prometheus.yml"
check "monitoring kit: the packaged rules pass their unit tests (promtool test rules)" promtool test rules "$MON/ws2api-alerts.test.yml"
check "binaries run" sh -c "chroot '$ROOT' ws2api --version | grep -q '^ws2api '"

say "systemd-analyze verify (inside the root)"
# (man-db is installed: verify runs `man ws2api` for Documentation=man:ws2api(1))
inroot systemd-analyze verify /lib/systemd/system/ws2api.service && ok "verify: no output above = clean" || bad "systemd-analyze verify"
inroot systemd-analyze verify ws2api@1.service && ok "verify ws2api@1: no output above = clean" || bad "systemd-analyze verify ws2api@1.service"
cp "$ROOT/usr/share/doc/ws2api/examples/ws2api-chat-example.service" "$ROOT/etc/systemd/system/"
inroot systemd-analyze verify /etc/systemd/system/ws2api-chat-example.service && ok "verify the chat example unit: no output above = clean" || bad "systemd-analyze verify ws2api-chat-example.service"
rm -f "$ROOT/etc/systemd/system/ws2api-chat-example.service"
say "systemd-analyze security --offline (exposure, informational)"
inroot systemd-analyze security --offline=yes /lib/systemd/system/ws2api.service 2>&1 | tail -1 || true

# ---------------------------------------------------------------- run
# Starts the bridge as the unit would, talks to it, stops it with SIGTERM.
# Runs in a private network namespace: no clash with anything on the host.
run_bridge() {
    local tag=$1
    unshare -n bash -s "$ROOT" "$tag" <<'RUN'
set -u
ROOT=$1; TAG=$2; F=0
ok()  { printf 'ok   [%s] %s\n' "$TAG" "$*"; }
bad() { printf 'FAIL [%s] %s\n' "$TAG" "$*"; F=$((F + 1)); }
ip link set lo up
UNIT=$ROOT/lib/systemd/system/ws2api.service
key() { sed -n "s/^$1=//p" "$UNIT" | tail -1; }
EXECSTART=$(key ExecStart); USER_=$(key User); GROUP_=$(key Group)
ENVFILE=$(key EnvironmentFile); ENVFILE=${ENVFILE#-}; NOFILE=$(key LimitNOFILE)
echo "unit: User=$USER_ Group=$GROUP_ EnvironmentFile=$ENVFILE LimitNOFILE=$NOFILE"
echo "unit: ExecStart=$EXECSTART"
echo "env:  $(grep -v '^#' "$ROOT$ENVFILE" | grep .)"
# LimitNOFILE= (needs CAP_SYS_RESOURCE above the current hard limit).
if ! prlimit --pid $$ --nofile="$NOFILE:$NOFILE" 2>/dev/null; then
    echo "note: this host does not allow RLIMIT_NOFILE $NOFILE (prlimit: EPERM); running with the hard limit $(ulimit -Hn)"
fi
# Upstream: the demo API, as any user.
chroot --userspec=nobody:nogroup "$ROOT" /usr/bin/ws2api-demo-api --quiet --listen 127.0.0.1:8000 &
DEMO=$!
# The bridge: the unit's ExecStart, $WS2API_OPTS split on whitespace as
# systemd does for an unbraced $VAR, as User=/Group=, in the state directory.
chroot "$ROOT" /usr/bin/env -i PATH=/usr/bin:/bin /usr/bin/setpriv \
    --reuid="$USER_" --regid="$GROUP_" --init-groups --no-new-privs \
    /bin/sh -c "cd /var/lib/ws2api && umask 0027 && set -a && . '$ENVFILE' && set +a && exec $EXECSTART" \
    >"$ROOT/tmp/ws2api-$TAG.log" 2>&1 &
BRIDGE=$!
for i in $(seq 50); do
    (exec 3<>/dev/tcp/127.0.0.1/7002) 2>/dev/null && break; sleep 0.1
done
# chroot, env, setpriv and sh all exec: $BRIDGE is the ws2api process.
BPID=$BRIDGE
[ "$(cat /proc/$BPID/comm)" = ws2api ] && ok "process is ws2api" || bad "process $(cat /proc/$BPID/comm)"
uid=$(awk '/^Uid:/{print $2}' /proc/$BPID/status)
[ "$uid" = "$(chroot "$ROOT" id -u ws2api)" ] && ok "bridge runs as ws2api (uid $uid)" || bad "bridge uid $uid"
echo "limits: $(grep 'open files' /proc/$BPID/limits)"
CMD=$(tr '\0' ' ' </proc/$BPID/cmdline); echo "cmdline: $CMD"
case "$CMD" in "/usr/bin/ws2api --db /var/lib/ws2api/ws2api.db --upstream http://127.0.0.1:8000/"*) ok "command line from unit + env file";; *) bad "command line";; esac
[ "$TAG" != upgrade ] || case "$CMD" in *"--set upstream.max_connections=8"*) ok "modified conffile in effect";; *) bad "modified conffile not in effect";; esac

# Counters.
if chroot "$ROOT" curl -fsS http://127.0.0.1:7002/ >/tmp/ws2api-counters.$$; then
    ok "GET / counters: $(wc -l </tmp/ws2api-counters.$$) lines"; head -5 /tmp/ws2api-counters.$$
else bad "GET / counters"; fi
rm -f /tmp/ws2api-counters.$$

# WebSocket client: handshake, a masked text frame "hello", the echo; a push.
exec 3<>/dev/tcp/127.0.0.1/7001
printf 'GET /alice HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n' >&3
read -r -t 5 status <&3; status=${status%$'\r'}
while read -r -t 5 h <&3 && [ "${h%$'\r'}" != "" ]; do
    case $h in Sec-WebSocket-Accept:*) accept=${h#*: }; accept=${accept%$'\r'};; esac
done
[ "${status#* }" != "${status}" ] && [ "$(echo "$status" | cut -d' ' -f2)" = 101 ] && ok "handshake: $status" || bad "handshake: $status"
[ "${accept:-}" = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" ] && ok "Sec-WebSocket-Accept correct" || bad "Sec-WebSocket-Accept '${accept:-}'"
printf '\x81\x85\x00\x00\x00\x00hello' >&3
echo_=$(timeout 5 dd bs=1 count=7 <&3 2>/dev/null | tail -c 5)
[ "$echo_" = hello ] && ok "echo through the demo API: $echo_" || bad "echo: '$echo_'"
push=$(chroot "$ROOT" curl -sS -d 'pushed' http://127.0.0.1:7002/alice)
got=$(timeout 5 dd bs=1 count=8 <&3 2>/dev/null | tail -c 6)
[ "$push" = ok ] && [ "$got" = pushed ] && ok "push: API got '$push', client got '$got'" || bad "push: '$push' / '$got'"

# Management: a token from the CLI, the API with it, the CLI on the service DB.
WUID=$(chroot "$ROOT" id -u ws2api)
TOKFILE=/tmp/ws2api-token                     # in the root; survives the upgrade like the database
asroot() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"; }
api() {   # api [curl args] PATH -> status code; body in $ROOT/tmp/api.out
    chroot "$ROOT" curl -sS -o /tmp/api.out -w '%{http_code}' -H "Authorization: Bearer $(cat "$ROOT$TOKFILE")" \
        "${@:1:$#-1}" "http://127.0.0.1:7002${@: -1}"
}
if [ "$TAG" = install ]; then
    # As the service user, the documented way (docs/API.md, CONSOLE.md).
    if tok=$(asroot runuser -u ws2api -- ws2api token create ci --db /var/lib/ws2api/ws2api.db) && [ -n "$tok" ]; then
        (umask 077; echo "$tok" >"$ROOT$TOKFILE"); ok "token created by the service user with the CLI"
    else bad "token create as ws2api"; fi
    # As root, no --db: the default is the service's database.
    asroot ws2api token create ops >/dev/null && ok "token created by root (default --db)" || bad "token create as root"
    list=$(asroot ws2api token list)
    case "$list" in *ci*active*) case "$list" in *ops*active*) ok "root's default --db is the service database (both tokens listed)";; *) bad "token list: $list";; esac;; *) bad "token list: $list";; esac
    code=000; for i in $(seq 50); do code=$(api /api/v1/stats); [ "$code" = 200 ] && break; sleep 0.1; done
    [ "$code" = 200 ] && ok "GET /api/v1/stats with the token: 200 after $((i * 100)) ms" || bad "GET /api/v1/stats: $code"
    grep -o '"connections_open":[0-9]*' "$ROOT/tmp/api.out" | grep -qx '"connections_open":1' \
        && ok "stats: connections_open 1 (the client above)" || bad "stats: $(head -c 300 "$ROOT/tmp/api.out")"
    code=$(api -X PUT -d '{"value":"45000"}' /api/v1/config/limits.idle_timeout_ms)
    [ "$code" = 200 ] && grep -q '"applied":"live"' "$ROOT/tmp/api.out" \
        && ok "PUT /api/v1/config/limits.idle_timeout_ms 45000: $(cat "$ROOT/tmp/api.out")" || bad "PUT config: $code $(cat "$ROOT/tmp/api.out")"
    code=$(api -X PUT -d '{"value":"5"}' /api/v1/config/limits.idle_timeout_ms)
    [ "$code" = 400 ] && ok "out-of-bounds value refused: 400 $(cat "$ROOT/tmp/api.out")" || bad "bad value: $code"
    v=$(asroot ws2api config get limits.idle_timeout_ms)
    [ "$v" = 45000 ] && ok "CLI (root) reads the API's change: $v" || bad "config get: '$v'"
else
    code=$(api /api/v1/stats)
    [ "$code" = 200 ] && ok "token made before the upgrade still valid: GET /api/v1/stats 200" || bad "old token after upgrade: $code"
    code=$(api /api/v1/config)
    obj=$(grep -o '{"name":"limits.idle_timeout_ms"[^}]*}' "$ROOT/tmp/api.out" || true)
    case "$obj" in *'"value":"45000"'*'"source":"stored"'*) ok "stored config kept over the upgrade and in effect: limits.idle_timeout_ms 45000 (stored)";;
                   *) bad "config after upgrade: $code $obj";; esac
    v=$(asroot runuser -u ws2api -- ws2api config get limits.max_message_bytes)
    [ "$v" = 65536 ] && ok "value set by root's CLI while stopped kept; service user's default --db: $v" || bad "config get as ws2api: '$v'"
    code=$(api "/api/v1/audit?limit=10")
    grep -q '"actor":"token:ci","action":"config.set"' "$ROOT/tmp/api.out" && ok "audit log kept: config.set by token:ci" || bad "audit: $(head -c 300 "$ROOT/tmp/api.out")"
    if chroot "$ROOT" test -x /usr/bin/ws2api-console; then
        # The console as a user would start it (offscreen, no keyring), against this bridge.
        chroot "$ROOT" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/tmp XDG_RUNTIME_DIR=/tmp QT_QPA_PLATFORM=offscreen \
            WS2API_CONSOLE_NO_KEYRING=1 timeout 5 ws2api-console --bridge ci=http://127.0.0.1:7002 --token-file "$TOKFILE" \
            >"$ROOT/tmp/console.log" 2>&1; rc=$?
        [ "$rc" = 124 ] && ok "ws2api-console ran 5 s offscreen against the bridge (stopped by timeout)" \
                        || { bad "ws2api-console exited with $rc"; tail -5 "$ROOT/tmp/console.log"; }
        code=$(api /api/v1/stats)
        grep -q '"auth_failures":0' "$ROOT/tmp/api.out" && ok "no authentication failures (console used the token)" || { bad "auth failures: $(grep -o '"auth_failures":[0-9]*' "$ROOT/tmp/api.out")"; tail -20 "$ROOT/tmp/console.log"; }
    fi
fi
[ -f "$ROOT/var/lib/ws2api/ws2api.db" ] && ok "database in /var/lib/ws2api/ws2api.db" || bad "no /var/lib/ws2api/ws2api.db"
stray=$(find "$ROOT/var/lib/ws2api" ! -uid "$WUID" -printf '%P ' )
[ -z "$stray" ] && ok "everything in /var/lib/ws2api belongs to ws2api" || bad "not ws2api's: $stray"
exec 3>&-

# Data in the state directory, written as the service user.
if [ "$TAG" = install ]; then
    chroot --userspec=ws2api:ws2api "$ROOT" sh -c 'echo data-from-0.1.0 > /var/lib/ws2api/marker'
fi

# Stop as systemd would: KillSignal=SIGTERM, within TimeoutStopSec.
TSTOP=$(key TimeoutStopSec)
kill -TERM "$BPID"
t0=$EPOCHREALTIME; wait "$BRIDGE"; rc=$?; t1=$EPOCHREALTIME
ms=$(( (${t1/./} - ${t0/./}) / 1000 ))
[ "$rc" = 0 ] && ok "SIGTERM: exit 0 after ${ms} ms (TimeoutStopSec=$TSTOP)" || bad "SIGTERM: exit $rc"
kill "$DEMO" 2>/dev/null; wait "$DEMO" 2>/dev/null
echo "--- bridge log ($TAG)"; tail -5 "$ROOT/tmp/ws2api-$TAG.log"

if [ "$TAG" = install ]; then
    # Root's CLI while the service is stopped: SQLite creates the -wal/-shm
    # files anew; they must be the service user's, or the next start fails.
    echo "state directory before: $(ls -A "$ROOT/var/lib/ws2api" | tr '\n' ' ')"
    asroot ws2api config set limits.max_message_bytes 65536 >/dev/null && ok "root's CLI with the service stopped" || bad "config set as root"
    stray=$(find "$ROOT/var/lib/ws2api" ! -uid "$WUID" -printf '%P ')
    [ -z "$stray" ] && ok "files made by root's CLI belong to ws2api" || bad "root's CLI left: $stray"
fi
exit $F
RUN
}

say "run as the unit does (0.1.0)"
run_bridge install || FAILS=$((FAILS + $?))
ls -la "$ROOT/var/lib/ws2api"

# ---------------------------------------------------------------- console
if [ -n "$CDEB" ]; then
    say "install $(basename "$CDEB")"
    inroot apt-get install -y -q --no-install-recommends "/tmp/$(basename "$CDEB")" </dev/null >"$WORK/console-install.log" 2>&1 \
        && ok "apt-get installed ws2api-console and its dependencies ($(grep -c '^Setting up' "$WORK/console-install.log") packages set up)" \
        || { bad "apt-get install ws2api-console"; tail -5 "$WORK/console-install.log"; }
    check "console libraries all resolve (ldd)" sh -c "chroot '$ROOT' ldd /usr/bin/ws2api-console | grep -q libQt6Widgets && ! chroot '$ROOT' ldd /usr/bin/ws2api-console | grep -q 'not found'"
    check "ws2api-console --help (offscreen)" sh -c "chroot '$ROOT' env QT_QPA_PLATFORM=offscreen ws2api-console --help | grep -q -- '--bridge'"
    check "ws2api-console --version" sh -c "chroot '$ROOT' env QT_QPA_PLATFORM=offscreen ws2api-console --version | grep -q '$OLD_VERSION'"
    check "console man page, desktop entry, icons" test -s "$ROOT/usr/share/man/man1/ws2api-console.1.gz" \
        -a -s "$ROOT/usr/share/applications/ws2api-console.desktop" \
        -a -s "$ROOT/usr/share/icons/hicolor/scalable/apps/ws2api-console.svg" \
        -a -s "$ROOT/usr/share/icons/hicolor/128x128/apps/ws2api-console.png"
fi

# ---------------------------------------------------------------- upgrade
say "upgrade to $(basename "$DEB2")"
# A local change to the conffile must survive.
sed -i 's|^WS2API_OPTS=.*|WS2API_OPTS="--upstream http://127.0.0.1:8000/ --set upstream.max_connections=8"|' "$ROOT/etc/default/ws2api"
echo "# local change" >> "$ROOT/etc/default/ws2api"
UID1=$(chroot "$ROOT" id -u ws2api)
inroot apt-get install -y -q --no-install-recommends "$D2" </dev/null
check "dpkg: installed $UPV" sh -c "chroot '$ROOT' dpkg-query -W -f='\${Version}' ws2api | grep -q '^$UPV-'"
check "data kept" grep -q data-from-0.1.0 "$ROOT/var/lib/ws2api/marker"
check "database kept" test -s "$ROOT/var/lib/ws2api/ws2api.db"
check "modified conffile kept" grep -q 'max_connections=8' "$ROOT/etc/default/ws2api"
check "no .dpkg-dist/.dpkg-old" sh -c "! ls '$ROOT'/etc/default/ws2api.dpkg-* 2>/dev/null"
check "same ws2api uid" test "$(chroot "$ROOT" id -u ws2api)" = "$UID1"
check "state dir ownership kept" test "$(stat -c '%u:%g %a' "$ROOT/var/lib/ws2api")" = "$(owner)"
say "run as the unit does ($UPV, modified conffile)"
run_bridge upgrade || FAILS=$((FAILS + $?))

# ---------------------------------------------------------------- remove
say "remove (keeps data, user, conffile)"
inroot apt-get remove -y -q ws2api </dev/null >/dev/null
check "status config-files" sh -c "chroot '$ROOT' dpkg-query -W -f='\${Status}' ws2api | grep -q config-files"
check "binary gone" test ! -e "$ROOT/usr/bin/ws2api"
check "data kept on remove" test -f "$ROOT/var/lib/ws2api/marker"
check "user kept on remove" sh -c "chroot '$ROOT' getent passwd ws2api >/dev/null"
check "conffile kept on remove" test -f "$ROOT/etc/default/ws2api"

say "purge"
inroot dpkg --purge ws2api
# (dpkg still knows the name while ws2api-console, which suggests it, is installed.)
check "package gone" sh -c "! chroot '$ROOT' dpkg-query -W -f='\${Status}' ws2api 2>/dev/null | grep -Eq ' (installed|config-files)\$'"
check "/var/lib/ws2api gone" test ! -e "$ROOT/var/lib/ws2api"
check "user gone" sh -c "! chroot '$ROOT' getent passwd ws2api"
check "group gone" sh -c "! chroot '$ROOT' getent group ws2api"
check "conffile gone" test ! -e "$ROOT/etc/default/ws2api"
check "enable symlink gone" test ! -e "$ROOT/etc/systemd/system/multi-user.target.wants/ws2api.service"
check "no leftover state of deb-systemd-helper" sh -c "! ls '$ROOT'/var/lib/systemd/deb-systemd-helper-*/ws2api.service* 2>/dev/null"
if [ -n "$CDEB" ]; then
    inroot dpkg --purge ws2api-console >/dev/null
    check "ws2api-console purged: nothing left" sh -c "test ! -e '$ROOT/usr/bin/ws2api-console' && test ! -e '$ROOT/usr/share/doc/ws2api-console' && test ! -e '$ROOT/usr/share/applications/ws2api-console.desktop'"
fi

say "result ($((SECONDS - T0)) s)"
if [ "$FAILS" = 0 ]; then echo "PASS: packaging/test-deb.sh: all checks"; else echo "FAILED: packaging/test-deb.sh: $FAILS check(s)"; exit 1; fi
