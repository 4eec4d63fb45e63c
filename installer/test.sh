#!/bin/sh
# Installs the dependencies, builds, and runs every test suite; then does the
# same in an AddressSanitizer + UndefinedBehaviorSanitizer build.
# Usage: installer/test.sh [--no-sanitize]
set -eu
cd "$(dirname "$0")/.."
installer/install-deps.sh

installer/build.sh build -DCMAKE_BUILD_TYPE=RelWithDebInfo
ctest --test-dir build --output-on-failure --timeout 300

if [ "${1:-}" != "--no-sanitize" ]; then
    installer/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DWS2API_SANITIZE=ON
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        ctest --test-dir build-asan --output-on-failure --timeout 600
fi
# Packages: .deb/.rpm built in build-pkg (no tests), the .debs proven in a fresh
# Debian 12 chroot, the .rpm compared with them. Each prints SKIPPED with the
# reason when this machine cannot do it (not root, no mirror, no /proc in a
# chroot, no rpmbuild). WS2API_TEST_PACKAGES=0 leaves this out.
if [ "${WS2API_TEST_PACKAGES:-1}" != 0 ]; then
    packaging/test-deb.sh build-pkg
    packaging/check-rpm.sh build-pkg
fi
echo "test: all suites passed"
