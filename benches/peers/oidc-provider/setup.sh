#!/usr/bin/env bash
# Install node-oidc-provider from the npm registry for the peer comparison.
#
# It goes under target/ (never into the repository tree proper, never
# committed): target/peers/oidc-provider/node_modules. Node and npm come
# from Debian's packages when `node` is missing.
#
#   benches/peers/oidc-provider/setup.sh
#
# Environment: OIDC_PROVIDER_VERSION (default 9.13.3), PEER_DIR (default
# target/peers/oidc-provider under the repository root).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
version="${OIDC_PROVIDER_VERSION:-9.13.3}"
dir="${PEER_DIR:-$root/target/peers/oidc-provider}"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "setup: node or npm missing; installing the Debian packages"
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nodejs npm
fi
echo "setup: node $(node --version), npm $(npm --version)"
major="$(node --version | sed -E 's/^v([0-9]+).*/\1/')"
if [ "$major" -lt 20 ]; then
    echo "setup: oidc-provider 9 needs node 20.19 or newer; this is $(node --version)" >&2
    exit 1
fi

mkdir -p "$dir"
cp "$here/server.mjs" "$dir/server.mjs"
if [ -f "$dir/node_modules/oidc-provider/package.json" ] &&
    grep -q "\"version\": \"$version\"" "$dir/node_modules/oidc-provider/package.json"; then
    echo "setup: oidc-provider $version already installed in $dir"
    exit 0
fi
cat >"$dir/package.json" <<JSON
{
  "name": "tessera-peer-oidc-provider",
  "private": true,
  "type": "module",
  "dependencies": { "oidc-provider": "$version" }
}
JSON
echo "setup: installing oidc-provider $version into $dir"
timeout 600 npm install --prefix "$dir" --no-audit --no-fund --omit=dev --loglevel=error
node -e "import('$dir/node_modules/oidc-provider/lib/index.js').then(() => console.log('setup: oidc-provider loads'))"
