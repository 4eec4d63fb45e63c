# %post: state directory (systemd creates it too: StateDirectory=); reload
# units; enable per preset on first install; restart on upgrade.
if [ ! -d /var/lib/ws2api ]; then
    mkdir -p /var/lib/ws2api
    chown ws2api:ws2api /var/lib/ws2api
    chmod 0750 /var/lib/ws2api
fi
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    if [ "$1" -eq 1 ]; then
        systemctl preset ws2api.service >/dev/null 2>&1 || :
    else
        systemctl try-restart ws2api.service >/dev/null 2>&1 || :
    fi
fi
exit 0
