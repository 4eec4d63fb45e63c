#!/usr/bin/env bash
# Assemble Autobahn|Testsuite (wstest) offline for Python 2.7.18 from bare git
# mirrors under /work/.mirror (obtained with the `fetch` tool, github:<owner>/<name>).
#
# Result: pure PYTHONPATH-style prefix in $DEST/py (site-packages added with
# site.addsitedir by $DEST/bin/wstest, so namespace .pth files work), plus the
# launcher $DEST/bin/wstest.  No network, no PyPI: each package is installed with its own
# `setup.py install --prefix` (or copied, if pure python).
#
# Usage: ./assemble.sh            (re-creates $DEST/py and $DEST/build;
#        do not run it while a test run uses $DEST/py)
# Needs these bare mirrors (fetch github:<owner>/<name> for each):
#   crossbario/autobahn-testsuite crossbario/autobahn-python crossbario/txaio
#   twisted/twisted twisted/incremental twisted/constantly glyph/automat
#   zopefoundation/zope.interface benjaminp/six python-attrs/attrs kjd/idna
#   python-hyper/hyperlink hamcrest/PyHamcrest pallets/jinja pallets/markupsafe
#   varunarya10/unittest2 testing-cabal/traceback2 testing-cabal/linecache2
# Hand-written files kept next to it (not generated): bin/wstest, run.sh,
# summary.py, echo_websockets.py, README.md.
set -euo pipefail

DEST=${DEST:-/work/autobahn}
MIRROR=${MIRROR:-/work/.mirror}
PY=${PY:-/root/.pyenv/versions/2.7.18/bin/python2.7}
LOCK=${LOCK:-/tmp/ws2api-cpu.lock}

PREFIX=$DEST/py
SITE=$PREFIX/lib/python2.7/site-packages
BUILD=$DEST/build
rm -rf "$PREFIX" "$BUILD"
mkdir -p "$SITE" "$BUILD"
: > "$DEST/VERSIONS.txt"

export PYTHONPATH=$SITE
export PYTHONWARNINGS=ignore PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1

for m in crossbario+autobahn-testsuite crossbario+autobahn-python crossbario+txaio \
         twisted+twisted twisted+incremental twisted+constantly glyph+automat \
         zopefoundation+zope.interface benjaminp+six python-attrs+attrs kjd+idna \
         python-hyper+hyperlink hamcrest+PyHamcrest pallets+jinja pallets+markupsafe \
         varunarya10+unittest2 testing-cabal+traceback2 testing-cabal+linecache2; do
  [ -d "$MIRROR/$m/repo" ] || { echo "missing mirror $MIRROR/$m/repo (fetch github:${m/+//})" >&2; exit 1; }
done

gitdir() {  # some mirrors are <x>/repo, some <x>/repo/.git
  local d=$MIRROR/$1/repo
  [ -d "$d/.git" ] && d=$d/.git
  echo "$d"
}

extract() {  # extract <mirror-name> <tag>  -> prints dir
  local name=$1 tag=$2 gd out
  gd=$(gitdir "$name")
  out=$BUILD/${name}@${tag}
  mkdir -p "$out"
  git --git-dir="$gd" archive "$tag" | tar -x -C "$out"
  echo "$name $tag $(git --git-dir="$gd" rev-parse "$tag^{commit}")" >> "$DEST/VERSIONS.txt"
  echo "$out"
}

pipinst() {  # pipinst <srcdir> [cpu]   (cpu: has C extensions -> take the CPU lock)
  # plain setuptools install (no pip/PEP 517, no index); setup_requires are
  # satisfied from $SITE via PYTHONPATH
  local cmd=("$PY" setup.py -q install --prefix "$PREFIX"
             --single-version-externally-managed --record "$1/installed-files.txt")
  if [ "${2:-}" = cpu ]; then (cd "$1" && flock "$LOCK" "${cmd[@]}"); else (cd "$1" && "${cmd[@]}"); fi
}

# --- packages installed from source with setup.py (C parts optional) -------
pipinst "$(extract benjaminp+six 1.16.0)"
# zope.interface: C speedups optional (pure-python fallback); build tries them
pipinst "$(extract zopefoundation+zope.interface 4.6.0)" cpu
pipinst "$(extract twisted+incremental incremental-16.10.1)"
pipinst "$(extract twisted+constantly 15.1.0)"
pipinst "$(extract python-attrs+attrs 21.4.0)"
pipinst "$(extract kjd+idna v2.10)"
pipinst "$(extract python-hyper+hyperlink v19.0.0)"
pipinst "$(extract hamcrest+PyHamcrest V1.10.1)"
copypkg() {  # copypkg <srcdir> <pkgdir> <DistName> <version> [requires...]
  # pure-python package whose setup.py needs unavailable setup_requires
  # (setuptools-scm, pbr): copy it and write minimal egg-info metadata
  local src=$1 pkg=$2 name=$3 ver=$4; shift 4
  local ei=$SITE/$name-$ver-py2.7.egg-info
  cp -r "$src/$pkg" "$SITE/"
  mkdir -p "$ei"
  printf 'Metadata-Version: 1.1\nName: %s\nVersion: %s\n' "$name" "$ver" > "$ei/PKG-INFO"
  printf '%s\n' "$@" > "$ei/requires.txt"
  echo "$pkg" > "$ei/top_level.txt"
}
# Automat: setup_requires setuptools-scm + m2r
copypkg "$(extract glyph+automat v20.2.0)" automat Automat 20.2.0 'attrs>=19.2.0' six
# Twisted 19.10.0 (pinned by the testsuite's requirements.txt)
pipinst "$(extract twisted+twisted twisted-19.10.0)" cpu
pipinst "$(extract crossbario+txaio v2.1.0)"
pipinst "$(extract crossbario+autobahn-python v0.10.9)"
# unittest2 (imported by autobahn.wamp.test.test_serializer, which the suite's
# serializer.py uses).  Upstream is hg; varunarya10/unittest2 is a git mirror
# whose HEAD is 1.0.1 (+README).  traceback2/linecache2 need pbr: copy them.
copypkg "$(extract testing-cabal+linecache2 1.0.0)" linecache2 linecache2 1.0.0
copypkg "$(extract testing-cabal+traceback2 1.4.0)" traceback2 traceback2 1.4.0 linecache2
copypkg "$(extract varunarya10+unittest2 70f25ce)" unittest2 unittest2 1.0.1 'six>=1.4' traceback2
pipinst "$(extract pallets+markupsafe 1.1.1)" cpu
pipinst "$(extract pallets+jinja 2.11.3)"
# the testsuite itself (v25.10.1 = latest, Python 2.7 / autobahn 0.10.9)
d=$(extract crossbario+autobahn-testsuite v25.10.1)
pipinst "$d/autobahntestsuite"

# Not installed (not needed for ws:// fuzzingclient / echoserver):
#  - pyOpenSSL/cryptography/service_identity: TLS only.  cryptography's repo is
#    too big for `fetch` (>500 MiB), and 3.3.2 predates OpenSSL 3.0 anyway.
#    bin/wstest installs an import stub for twisted.internet.ssl (see there).
#  - klein/werkzeug: only used by wampfuzzing.py (disabled in wstest.py).
#  - wsaccel/ujson: optional accelerators.

echo "assembled into $PREFIX"; cat "$DEST/VERSIONS.txt"
if [ -x "$DEST/bin/wstest" ]; then "$DEST/bin/wstest" -a; fi
