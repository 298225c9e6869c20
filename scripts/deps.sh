#!/bin/sh
# deps.sh — installs the Debian packages the build and the tests need, when
# they are missing.  CI and fresh machines start bare; this is the only place
# that knows the package names.  Needs root (or sudo) only when something is
# missing.
set -e

PKGS="gcc make pkg-config git
libmicrohttpd-dev libjansson-dev libsqlite3-dev libpq-dev libsodium-dev libssl-dev
libjwt-dev libcurl4-openssl-dev libcmocka-dev
clang libclang-rt-14-dev
postgresql postgresql-contrib
nodejs npm
wrk prometheus
chromium"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
# node may come from elsewhere (nvm, a tarball); only install it when absent
if command -v node >/dev/null 2>&1; then
    missing=$(echo "$missing" | tr ' ' '\n' | grep -v -x -e nodejs -e npm | tr '\n' ' ')
fi
missing=$(echo $missing)
if [ -n "$missing" ]; then
    echo "deps: installing $missing"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# npm packages used by the API tests (OpenAPI lint, headless Chromium driver)
if [ -f tests/api/package.json ]; then
    if [ ! -d tests/api/node_modules ] || [ tests/api/package-lock.json -nt tests/api/node_modules ]; then
        echo "deps: npm ci in tests/api"
        (cd tests/api && npm ci --no-audit --no-fund --loglevel=error >/dev/null && touch node_modules)
    fi
fi
