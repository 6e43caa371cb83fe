#!/bin/sh
# Install the Debian packages chipctl needs to build, test and benchmark.
# Idempotent: installs only what is missing. Needs root (or sudo) for apt-get.
set -eu

PKGS="build-essential pkg-config libpq-dev libcurl4-openssl-dev libjson-c-dev
libconfig-dev postgresql-15 postgresql-client-15 postgresql-15-pgtap bats
bats-assert bats-support python3 curl ca-certificates util-linux procps
nginx-light hyperfine valgrind pgbouncer clang libclang-rt-14-dev cppcheck
clang-tidy chromium systemd logrotate"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
