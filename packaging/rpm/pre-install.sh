# %pre: dedicated system user and group (home = state directory, no login).
getent group ws2api >/dev/null || groupadd -r ws2api
getent passwd ws2api >/dev/null || \
    useradd -r -g ws2api -d /var/lib/ws2api -M -s /sbin/nologin \
        -c "ws2api WebSocket bridge" ws2api
exit 0
