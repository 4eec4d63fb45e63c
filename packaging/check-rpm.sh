#!/bin/bash
# Compares the .rpm packages with the .deb packages built from the same CMake
# project: files (with mode and owner), configuration files and maintainer
# scripts. Prints the differences; exits 1 when files or configuration files
# differ, 0 otherwise. Directories are listed but do not fail the check: dpkg
# packages list every parent directory, rpm packages own only their own ones.
#
# Usage: packaging/check-rpm.sh [BUILD_DIR]   (default: build-pkg, configured
#        if needed; builds, then makes both formats afresh in BUILD_DIR/packages)
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build-pkg}
VERSION=$(sed -n 's/^WS2API_PACKAGE_VERSION:STRING=//p' "$BUILD/CMakeCache.txt")
RELEASE=$(sed -n 's/^WS2API_PACKAGE_RELEASE:STRING=//p' "$BUILD/CMakeCache.txt")
COMPONENTS=$(sed -n 's/^WS2API_PACKAGE_COMPONENTS:STRING=//p' "$BUILD/CMakeCache.txt")
for tool in rpm rpmbuild dpkg-deb cpack; do
    command -v "$tool" >/dev/null || { echo "SKIPPED: packaging/check-rpm.sh: $tool is not installed"; exit 0; }
done
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
    cmake -S "$SRC" -B "$BUILD" "${gen[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
          -DCMAKE_INSTALL_PREFIX=/usr -DWS2API_BUILD_TESTS=OFF >/dev/null
fi
BUILD=$(cd "$BUILD" && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# Both formats from the same build, now.
nice -n 10 cmake --build "$BUILD" -j1 >/dev/null
rm -f "$BUILD"/packages/*.deb "$BUILD"/packages/*.rpm
(cd "$BUILD" && cpack -G DEB && cpack -G RPM) >"$TMP/cpack.log" 2>&1 || { cat "$TMP/cpack.log"; exit 1; }
FAILS=0

pkgname() { case $1 in server) echo ws2api;; console) echo ws2api-console;; *) echo "$1";; esac; }


for comp in ${COMPONENTS//;/ }; do
    name=$(pkgname "$comp")
    deb=$BUILD/packages/${name}_${VERSION}-${RELEASE}_amd64.deb
    rpm=$BUILD/packages/${name}-${VERSION}-${RELEASE}.x86_64.rpm
    echo "=== $name: $(basename "$deb") vs $(basename "$rpm")"

    # Files: "mode owner:group path" (directories apart).
    dpkg-deb -c "$deb" | awk '$1 !~ /^d/ {p=$6; sub(/^\./, "", p); sub(/\//, ":", $2); print $1, $2, p}' \
        | sort >"$TMP/deb.files"
    rpm -qp --qf '[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILENAMES}\n]' "$rpm" 2>/dev/null \
        | awk '$1 !~ /^d/' | sort >"$TMP/rpm.files"
    if diff -u "$TMP/deb.files" "$TMP/rpm.files" >"$TMP/files.diff"; then
        echo "ok   files: the same $(wc -l <"$TMP/deb.files") files, modes and owners"
    else
        echo "FAIL files differ (- deb, + rpm):"; tail -n +3 "$TMP/files.diff" | grep '^[-+]'; FAILS=$((FAILS + 1))
    fi

    # Directories: informational.
    dpkg-deb -c "$deb" | awk '$1 ~ /^d/ {p=$6; sub(/^\./, "", p); sub(/\/$/, "", p); if (p != "") print p}' \
        | sort >"$TMP/deb.dirs"
    rpm -qp --qf '[%{FILEMODES:perms} %{FILENAMES}\n]' "$rpm" 2>/dev/null | awk '$1 ~ /^d/ {print $2}' \
        | sort >"$TMP/rpm.dirs"
    echo "info directories: rpm owns $(tr '\n' ' ' <"$TMP/rpm.dirs")"
    extra=$(comm -13 "$TMP/deb.dirs" "$TMP/rpm.dirs" | tr '\n' ' ')
    [ -z "$extra" ] || { echo "FAIL rpm owns directories the deb does not ship: $extra"; FAILS=$((FAILS + 1)); }

    # Configuration files: deb conffiles vs rpm %config.
    { dpkg-deb -I "$deb" conffiles 2>/dev/null || true; } | sort >"$TMP/deb.conf"
    rpm -qp --qf '[%{FILEFLAGS:fflags}|%{FILENAMES}\n]' "$rpm" 2>/dev/null >"$TMP/rpm.flags"
    awk -F'|' '$1 ~ /c/ {print $2}' "$TMP/rpm.flags" | sort >"$TMP/rpm.conf"
    rpmflags=$(awk -F'|' '$1 ~ /c/ {print $1}' "$TMP/rpm.flags" | sort -u | tr '\n' ' ')
    if diff -q "$TMP/deb.conf" "$TMP/rpm.conf" >/dev/null; then
        echo "ok   configuration files: $( [ -s "$TMP/deb.conf" ] && tr '\n' ' ' <"$TMP/deb.conf" || echo "none ")${rpmflags:+(rpm flags: $rpmflags)}"
    else
        echo "FAIL configuration files: deb [$(tr '\n' ' ' <"$TMP/deb.conf")] rpm [$(tr '\n' ' ' <"$TMP/rpm.conf")]"
        FAILS=$((FAILS + 1))
    fi

    # Maintainer scripts: names side by side (dpkg and rpm call them differently).
    debs=$(dpkg-deb -I "$deb" | awk '/^ +[0-9]+ bytes, +[0-9]+ lines +\*? *(preinst|postinst|prerm|postrm)/ {for (i = 1; i <= NF; i++) if ($i ~ /^(pre|post)(inst|rm)$/) print $i}' | tr '\n' ' ')
    rpms=$(rpm -qp --scripts "$rpm" 2>/dev/null | sed -n 's/^\([a-z]*\) scriptlet.*/\1/p' | tr '\n' ' ')
    echo "info scripts: deb [${debs:-none}]  rpm [${rpms:-none}]"
    # Depends vs Requires, for the eye.
    echo "info deb Depends: $(dpkg-deb -f "$deb" Depends)"
    echo "info rpm Requires (libraries): $(rpm -qpR "$rpm" 2>/dev/null | grep -E '^lib[^(]*\(\)' | sed 's/()(64bit)//' | sort -u | tr '\n' ' ')"
done

echo
if [ "$FAILS" = 0 ]; then echo "PASS: packaging/check-rpm.sh: rpm and deb ship the same files"; else echo "FAILED: packaging/check-rpm.sh: $FAILS difference(s)"; exit 1; fi
