# %postun: reload units. RPM has no "purge": /var/lib/ws2api and the ws2api
# user are kept on erase (Fedora packaging guidelines); remove them by hand:
#   rm -rf /var/lib/ws2api && userdel ws2api
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
exit 0
