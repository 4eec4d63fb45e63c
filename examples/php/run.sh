#!/bin/sh
# Runs the PHP example: nginx on 127.0.0.1:$PORT (default 8000) in front of
# PHP-FPM, for a bridge started with
#   ws2api --upstream http://127.0.0.1:8000/ws/
# Environment: PORT, HOST, PHP_WORKERS (PHP-FPM pm.max_children, default 8), PHP_PM
# (PHP-FPM's pm: dynamic, the default, or static),
# NGINX_WORKERS (default 1), WS2API_INTERNAL_URL (default http://127.0.0.1:7002),
# WS2API_PUSH_TOKEN. Stops both on SIGTERM/SIGINT.
set -eu
EXAMPLES=$(cd "$(dirname "$0")/.." && pwd)
export WS2API_INTERNAL_URL="${WS2API_INTERNAL_URL:-http://127.0.0.1:7002}"
export WS2API_PUSH_TOKEN="${WS2API_PUSH_TOKEN:-}"
FPM=$(command -v php-fpm8.2 || command -v php-fpm || ls /usr/sbin/php-fpm* 2>/dev/null | head -1 || true)
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -n "$FPM" ] || { echo "run.sh: php-fpm is not installed (apt-get install php-fpm)" >&2; exit 1; }
case "${PHP_WORKERS:-8}${NGINX_WORKERS:-1}${PORT:-8000}" in
*[!0-9]*) echo "run.sh: PHP_WORKERS, NGINX_WORKERS and PORT are numbers" >&2; exit 64 ;;
esac
RUN=$(mktemp -d /tmp/ws2api-php-example.XXXXXX)
USER_LINE="" FPM_ROOT=""
if [ "$(id -u)" = 0 ]; then USER_LINE="user root;" FPM_ROOT="-R"; fi # as root (CI): no other user
fill() {
    sed -e "s|__RUN__|$RUN|g" -e "s|__EXAMPLES__|$EXAMPLES|g" -e "s|__HOST__|${HOST:-127.0.0.1}|g" \
        -e "s|__PORT__|${PORT:-8000}|g" -e "s|__PHP_WORKERS__|${PHP_WORKERS:-8}|g" -e "s|__PHP_PM__|${PHP_PM:-dynamic}|g" \
        -e "s|__NGINX_WORKERS__|${NGINX_WORKERS:-1}|g" -e "s|__USER_LINE__|$USER_LINE|g" "$1" > "$2"
}
fill "$EXAMPLES/php/nginx.conf.in" "$RUN/nginx.conf"
fill "$EXAMPLES/php/php-fpm.conf.in" "$RUN/php-fpm.conf"
FPM_PID="" NGINX_PID=""
stop() {
    for p in $NGINX_PID $FPM_PID; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$RUN"
}
trap stop EXIT
trap 'exit 0' INT TERM
"$FPM" --nodaemonize --force-stderr --fpm-config "$RUN/php-fpm.conf" $FPM_ROOT &
FPM_PID=$!
for _ in $(seq 100); do [ -S "$RUN/php-fpm.sock" ] && break; sleep 0.1; done # nginx only once PHP answers
[ -S "$RUN/php-fpm.sock" ] || { echo "run.sh: php-fpm did not start" >&2; exit 1; }
"$NGINX" -q -t -p "$RUN" -c "$RUN/nginx.conf"
"$NGINX" -p "$RUN" -c "$RUN/nginx.conf" &
NGINX_PID=$!
echo "chat example (php) on http://${HOST:-127.0.0.1}:${PORT:-8000}/, bridge $WS2API_INTERNAL_URL"
wait
