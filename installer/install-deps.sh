#!/bin/sh
# Installs everything ws2api needs to build, test and run, from Debian 12 packages.
# Usage: installer/install-deps.sh        (as root, or with sudo available)
set -eu
# Installed with --no-install-recommends, so every package the build, the tests
# and the packaging checks use is named here, not left to a Recommends:
#   build:    build-essential cmake ninja-build pkg-config libpoco-dev
#             libsqlite3-dev libhttp-parser-dev (the server's HTTP parser)
#   console:  qt6-base-dev libqt6opengl6-dev (Qt6Charts needs Qt6OpenGL;
#             qt6-base-dev only recommends it) qt6-websockets-dev qt6-charts-dev
#   build:    zlib1g-dev (permessage-deflate)
#             libssl-dev (TLS: internal.tls.* and https:// cluster peers; the tests' throw-away CA, tests/support/TestPki)
#   tests:    libcppunit-dev python3-websockets curl haproxy nginx (ScaleOutTest)
#             nodejs node-ws (CompressionTest's Node `ws` client: Debian's
#             ws 8.11, in /usr/share/nodejs/ws; no npm registry needed)
#             xvfb xauth imagemagick fonts-dejavu-core (console screenshots)
#   examples: php-fpm (examples/php behind nginx), python3-flask gunicorn
#             (examples/python); ExamplesTest runs them, nodejs runs examples/node
#   monitoring: prometheus (promtool and a real Prometheus: PrometheusTest),
#             python3-prometheus-client (its strict OpenMetrics parser)
#   browser:  chromium (RefusalTest: a real page's onclose sees the close reason)
#   bench:    libnginx-mod-http-echo (an nginx API with a set latency)
#   packages: rpm (rpmbuild, for the .rpm and packaging/check-rpm.sh)
PACKAGES="build-essential cmake ninja-build pkg-config libpoco-dev libcppunit-dev libsqlite3-dev libhttp-parser-dev \
  zlib1g-dev libssl-dev python3-websockets curl nodejs node-ws \
  qt6-base-dev libqt6opengl6-dev qt6-websockets-dev qt6-charts-dev \
  haproxy nginx libnginx-mod-http-echo xvfb xauth imagemagick fonts-dejavu-core \
  php-fpm python3-flask gunicorn \
  prometheus python3-prometheus-client chromium \
  rpm"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "install-deps: run as root or install sudo" >&2; exit 1
    fi
fi
missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
    echo "install-deps: all packages present"
else
    echo "install-deps: installing$missing"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
fi

# The name "localhost" must resolve to the loopback addresses (RFC 6761; every
# Debian install writes it into /etc/hosts). The TLS tests verify certificates
# for that name and a bridge may be pointed at https://localhost/. A bare root
# (debootstrap, some containers) has no /etc/hosts: add the standard lines,
# and say so.
if ! getent hosts localhost >/dev/null 2>&1; then
    echo "install-deps: 'localhost' does not resolve; adding it to /etc/hosts (127.0.0.1 and ::1)"
    printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' | $SUDO tee -a /etc/hosts >/dev/null
fi
