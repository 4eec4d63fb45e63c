#!/bin/sh
# Configures and builds ws2api into build/ (or $1). Extra arguments go to cmake.
# Usage: installer/build.sh [BUILD_DIR] [-DWS2API_SANITIZE=ON ...]
set -eu
cd "$(dirname "$0")/.."
BUILD_DIR="${1:-build}"
[ $# -gt 0 ] && shift
cmake -S . -B "$BUILD_DIR" -G Ninja "$@"
cmake --build "$BUILD_DIR" --parallel "$(nproc)"
