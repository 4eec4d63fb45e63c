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
echo "test: all suites passed"
