#!/usr/bin/python3
"""Runs a command with its stdout and stderr on a Unix socket, as under a
systemd unit logging to the journal or a supervisor that collects output over
a socket, and copies what arrives to this process's stdout (ExamplesTest).
SIGTERM and SIGINT are passed on; exits with the command's status.

Usage: stderr_socket.py COMMAND [ARG...]"""
import os
import signal
import socket
import subprocess
import sys
import threading

ours, theirs = socket.socketpair()
child = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=theirs.fileno(), stderr=theirs.fileno())
theirs.close()
for sig in (signal.SIGTERM, signal.SIGINT):
    signal.signal(sig, lambda s, _f: child.send_signal(s))


def copy():
    while True:
        data = ours.recv(65536)
        if not data:
            return
        os.write(1, data)


relay = threading.Thread(target=copy, daemon=True)
relay.start()
status = child.wait()
relay.join(5)
sys.exit(status if status >= 0 else 128 - status)
