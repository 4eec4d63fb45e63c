#!/bin/sh
# Installs the dependencies, builds, and runs every test suite; then does the
# same in an AddressSanitizer + UndefinedBehaviorSanitizer build.
# Usage: installer/test.sh [--no-sanitize]
#
# Nothing is left out silently: each build must contain every part (server,
# demo API, bench, admin console, the test binaries) and register one CTest
# suite per *Test.cpp file (tests/unit, tests/integration, console/tests) plus
# the fuzz corpus replays; otherwise this fails, naming what is missing.
# SKIPPED is printed only for what this machine cannot do (see below).
set -eu
cd "$(dirname "$0")/.."
installer/install-deps.sh

fail() { echo "test: FAILED: $*" >&2; exit 1; }

# The suites this checkout defines, one name a line, sorted.
expected_suites() {
    for f in tests/unit/*Test.cpp tests/integration/*Test.cpp console/tests/*Test.cpp; do
        basename "$f" .cpp
    done
    echo FuzzCorpus_frames
    echo FuzzCorpus_handshake
    echo FuzzCorpus_http
    echo FuzzCorpus_request
}

# check_build BUILD_DIR: every part built, every suite registered.
check_build() {
    dir=$1
    grep -q '^WS2API_BUILD_CONSOLE:BOOL=ON$' "$dir/CMakeCache.txt" \
        || fail "$dir was configured without the admin console (WS2API_BUILD_CONSOLE is not ON)"
    for bin in server/ws2api server/ws2api-demo-api bench/ws2api-bench console/ws2api-console \
               tests/ws2api_unit_tests tests/ws2api_integration_tests console/tests/ws2api_console_tests \
               tests/ws2api_fuzz_replay_frames tests/ws2api_fuzz_replay_handshake tests/ws2api_fuzz_replay_http \
               tests/ws2api_fuzz_replay_request; do
        [ -x "$dir/$bin" ] || fail "$dir/$bin was not built"
    done
    expected_suites | sort >"$dir/suites.expected"
    ctest --test-dir "$dir" -N | sed -n 's/^ *Test *#[0-9]*: *//p' | sort >"$dir/suites.registered"
    missing=$(comm -23 "$dir/suites.expected" "$dir/suites.registered" | tr '\n' ' ')
    [ -z "$missing" ] || fail "$dir does not register these suites: $missing"
    echo "test: $dir has every part and all $(wc -l <"$dir/suites.expected") suites"
}

installer/build.sh build -DCMAKE_BUILD_TYPE=RelWithDebInfo
check_build build
ctest --test-dir build --output-on-failure --timeout 300

if [ "${1:-}" != "--no-sanitize" ]; then
    installer/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DWS2API_SANITIZE=ON
    check_build build-asan
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        ctest --test-dir build-asan --output-on-failure --timeout 600
fi
# Packages: .deb/.rpm built in build-pkg (no tests), the .debs proven in a fresh
# Debian 12 chroot, the .rpm compared with them. test-deb.sh prints SKIPPED with
# the reason when this machine cannot do it (not root, no network namespace, no
# /proc in a chroot, no Debian mirror). The tools install-deps.sh installs are
# not such a reason: their absence fails here. WS2API_TEST_PACKAGES=0 leaves
# this out.
if [ "${WS2API_TEST_PACKAGES:-1}" != 0 ]; then
    for tool in rpm rpmbuild dpkg-deb cpack; do
        command -v "$tool" >/dev/null || fail "$tool is missing (installer/install-deps.sh installs it)"
    done
    packaging/test-deb.sh build-pkg
    packaging/check-rpm.sh build-pkg
    grep -q '^WS2API_BUILD_CONSOLE:BOOL=ON$' build-pkg/CMakeCache.txt \
        || fail "build-pkg was configured without the admin console: no ws2api-console package"
fi
echo "test: all suites passed"
