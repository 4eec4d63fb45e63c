#!/bin/sh
# Runs the libFuzzer targets for a set time each (default 300 s), starting from
# the seed corpus in tests/fuzz/corpus; new inputs go to a scratch directory.
# Needs clang (apt-get install clang). Usage: tests/fuzz/run.sh [SECONDS]
set -eu
cd "$(dirname "$0")/../.."
SECONDS_EACH=${1:-300}
CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWS2API_FUZZ=ON >/dev/null
cmake --build build-fuzz --target ws2api_fuzz_frames ws2api_fuzz_handshake ws2api_fuzz_http ws2api_fuzz_request
WORK=$(mktemp -d /tmp/ws2api-fuzz.XXXXXX)
for target in frames handshake http request; do
    mkdir -p "$WORK/$target"
    cp tests/fuzz/corpus/$target/* "$WORK/$target/"
    echo "== $target: ${SECONDS_EACH}s"
    build-fuzz/tests/ws2api_fuzz_$target -max_total_time="$SECONDS_EACH" -max_len=8192 -print_final_stats=1 \
        -artifact_prefix="$WORK/crash-$target-" "$WORK/$target" 2>&1 | grep -E "^(#[0-9]+ +DONE|stat::|==[0-9]+==ERROR)|crash-" || true
    ls "$WORK"/crash-$target-* 2>/dev/null && { echo "crash inputs kept in $WORK"; exit 1; }
    echo "corpus grew to $(ls "$WORK/$target" | wc -l) inputs"
done
rm -rf "$WORK"
