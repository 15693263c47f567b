#!/usr/bin/env bash
# Builds and installs Citus from ../shared/vendor/ when this machine does not have it yet.
# Once per machine: `make install` writes citus.so into the system PostgreSQL folders, so later
# runs find it and skip everything. Needs root and the Debian registry (CI: a clean Debian).
set -euo pipefail
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_LIB=$("$PG_BIN/pg_config" --pkglibdir 2>/dev/null || echo /usr/lib/postgresql/15/lib)
if [ -f "$PG_LIB/citus.so" ]; then
  echo "citus: already installed ($PG_LIB/citus.so)"
  exit 0
fi
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VENDOR=${CITUS_VENDOR:-$HERE/../../../shared/vendor}
TARBALL="$VENDOR/citus-13.2.2.tar.gz"
if [ ! -f "$TARBALL" ]; then
  echo "citus: $TARBALL not found (set CITUS_VENDOR)" >&2
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  echo "citus: not installed and not root; cannot build it here" >&2
  exit 1
fi
# The server headers must match the installed server's minor version where the registry still
# has that version; otherwise the candidate is used (same major, ABI-compatible).
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
SERVER_VERSION=$(dpkg-query -W -f='${Version}' postgresql-15 2>/dev/null || true)
DEV=postgresql-server-dev-15
if [ -n "$SERVER_VERSION" ] && apt-cache madison "$DEV" | grep -qF " $SERVER_VERSION "; then
  DEV="$DEV=$SERVER_VERSION"
fi
apt-get install -y -qq --no-install-recommends "$DEV" libcurl4-openssl-dev liblz4-dev \
  libzstd-dev libkrb5-dev libssl-dev autoconf flex bison make gcc >/dev/null
BUILD_DIR=$(mktemp -d /tmp/citus-build.XXXXXX)
trap 'rm -rf "$BUILD_DIR"' EXIT
tar -xzf "$TARBALL" -C "$BUILD_DIR"
cd "$BUILD_DIR/citus-13.2.2"
echo "citus: building (several minutes on two cores)"
PG_CONFIG="$PG_BIN/pg_config" ./configure >/dev/null
make -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
make install >/dev/null
echo "citus: installed into $PG_LIB"
