#!/bin/bash
# Proves the ws2api .deb on a clean Debian 12 without systemd as PID 1:
#   debootstrap --variant=minbase bookworm (cached), copied to a throwaway root;
#   apt-get install ./ws2api_<v>.deb (dependencies from the mirror);
#   start the bridge the way the unit does (ExecStart=, User=, Group=,
#   EnvironmentFile=, LimitNOFILE= parsed from the installed unit) with
#   ws2api-demo-api as upstream, in a private network namespace;
#   a WebSocket client (bash /dev/tcp): handshake, echo, push; curl GET /;
#   SIGTERM -> exit 0; systemd-analyze verify / security on the unit;
#   upgrade to a package built with a bumped version: data, conffile, user kept;
#   remove (data kept), purge (data, user, group, conffile gone).
#
# Usage (as root): packaging/test-deb.sh [BUILD_DIR]    (default: build-pkg)
# Env: WS2API_TEST_BASE   cached debootstrap root (/var/tmp/ws2api-chroot-base)
#      WS2API_TEST_KEEP=1 keep the throwaway root
#      WS2API_UPGRADE_VERSION  version of the upgrade package (0.1.1)
#      DEBIAN_MIRROR      (http://deb.debian.org/debian)
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$SRC/build-pkg}" && pwd)
BASE=${WS2API_TEST_BASE:-/var/tmp/ws2api-chroot-base}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
UPV=${WS2API_UPGRADE_VERSION:-0.1.1}
WORK=$(mktemp -d /var/tmp/ws2api-debtest.XXXXXX)
ROOT=$WORK/root
FAILS=0

say()  { printf '\n=== %s\n' "$*"; }
ok()   { printf 'ok   %s\n' "$*"; }
bad()  { printf 'FAIL %s\n' "$*"; FAILS=$((FAILS + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
inroot() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
           LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }

[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 2; }

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
OLD_VERSION=$(sed -n 's/^WS2API_PACKAGE_VERSION:STRING=//p' "$BUILD/CMakeCache.txt")
DEB1=$(ls "$BUILD"/packages/ws2api_"$OLD_VERSION"-*_amd64.deb 2>/dev/null | head -1 || true)
if [ -z "$DEB1" ]; then
    cmake --build "$BUILD" -j1
    (cd "$BUILD" && cpack -G DEB >/dev/null)
    DEB1=$(ls "$BUILD"/packages/ws2api_"$OLD_VERSION"-*_amd64.deb | head -1)
fi
cp "$DEB1" "$WORK/"
# The upgrade: same binaries, package version bumped.
RESET_VERSION=1
cmake -DWS2API_PACKAGE_VERSION="$UPV" "$BUILD" >/dev/null
cmake --build "$BUILD" -j1 >/dev/null
(cd "$BUILD" && cpack -G DEB >/dev/null)
DEB2=$(ls "$BUILD"/packages/ws2api_"$UPV"-*_amd64.deb | head -1)
mv "$DEB2" "$WORK/"
cmake -U WS2API_PACKAGE_VERSION "$BUILD" >/dev/null; RESET_VERSION=
cmake --build "$BUILD" -j1 >/dev/null     # regenerate changelog for $OLD_VERSION
DEB1=$WORK/$(basename "$DEB1"); DEB2=$WORK/$(basename "$DEB2")
ls -l "$DEB1" "$DEB2"

# ---------------------------------------------------------------- clean root
say "clean Debian 12 root"
if [ ! -x "$BASE/usr/bin/apt-get" ]; then
    command -v debootstrap >/dev/null || apt-get install -y debootstrap
    timeout 480 debootstrap --variant=minbase bookworm "$BASE" "$MIRROR"
fi
cp -a "$BASE" "$ROOT"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
mount -t proc proc "$ROOT/proc"
mount --bind /dev "$ROOT/dev"
check "no systemd as PID 1 in the root" test ! -d "$ROOT/run/systemd/system"
cp "$DEB1" "$DEB2" "$ROOT/tmp/"
D1=/tmp/$(basename "$DEB1"); D2=/tmp/$(basename "$DEB2")

inroot apt-get update -q >/dev/null
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
check "man page" test -s "$ROOT/usr/share/man/man1/ws2api.1.gz"
check "binaries run" sh -c "chroot '$ROOT' ws2api --version | grep -q '^ws2api '"

say "systemd-analyze verify (inside the root)"
# (man-db is installed: verify runs `man ws2api` for Documentation=man:ws2api(1))
inroot systemd-analyze verify /lib/systemd/system/ws2api.service && ok "verify: no output above = clean" || bad "systemd-analyze verify"
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
[ "$TAG" != upgrade ] || case "$CMD" in *"--set upstream.pool_size=8"*) ok "modified conffile in effect";; *) bad "modified conffile not in effect";; esac

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
exit $F
RUN
}

say "run as the unit does (0.1.0)"
run_bridge install || FAILS=$((FAILS + $?))
ls -la "$ROOT/var/lib/ws2api"

# ---------------------------------------------------------------- upgrade
say "upgrade to $(basename "$DEB2")"
# A local change to the conffile must survive.
sed -i 's|^WS2API_OPTS=.*|WS2API_OPTS="--upstream http://127.0.0.1:8000/ --set upstream.pool_size=8"|' "$ROOT/etc/default/ws2api"
echo "# local change" >> "$ROOT/etc/default/ws2api"
UID1=$(chroot "$ROOT" id -u ws2api)
inroot apt-get install -y -q --no-install-recommends "$D2" </dev/null
check "dpkg: installed $UPV" sh -c "chroot '$ROOT' dpkg-query -W -f='\${Version}' ws2api | grep -q '^$UPV-'"
check "data kept" grep -q data-from-0.1.0 "$ROOT/var/lib/ws2api/marker"
check "modified conffile kept" grep -q 'pool_size=8' "$ROOT/etc/default/ws2api"
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
check "package gone" sh -c "! chroot '$ROOT' dpkg-query -W ws2api >/dev/null 2>&1"
check "/var/lib/ws2api gone" test ! -e "$ROOT/var/lib/ws2api"
check "user gone" sh -c "! chroot '$ROOT' getent passwd ws2api"
check "group gone" sh -c "! chroot '$ROOT' getent group ws2api"
check "conffile gone" test ! -e "$ROOT/etc/default/ws2api"
check "enable symlink gone" test ! -e "$ROOT/etc/systemd/system/multi-user.target.wants/ws2api.service"
check "no leftover state of deb-systemd-helper" sh -c "! ls '$ROOT'/var/lib/systemd/deb-systemd-helper-*/ws2api.service* 2>/dev/null"

say "result"
if [ "$FAILS" = 0 ]; then echo "PASS: all checks"; else echo "FAILED: $FAILS check(s)"; exit 1; fi
