#!/usr/bin/env bash
# Installs what building and testing need on Debian 12, skipping what is already there:
# the Debian packages listed in etc/packages/*.txt and the npm packages of package.json.
#   tests/install-deps.sh          build + runtime + test lists, every npm package (tests/run.sh)
#   tests/install-deps.sh --demo   build + runtime + demo lists, the npm servers only (etc/demo.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

lists="build runtime test"
npm_dev=1
if [ "${1:-}" = "--demo" ]; then
  lists="build runtime demo"
  npm_dev=0
fi
sudo_=""
[ "$(id -u)" = 0 ] || sudo_="sudo"
want=$(for l in $lists; do cat "etc/packages/$l.txt"; done | sed 's/#.*//' | tr -s ' \n' '\n' | sed '/^$/d' | sort -u)
# Node may come from elsewhere (NodeSource bundles npm and conflicts with Debian's npm
# package): what the tests need is the two commands, whoever installed them.
if command -v node >/dev/null && command -v npm >/dev/null; then
  want=$(echo "$want" | grep -vx -e nodejs -e npm)
fi
# Likewise kubectl (kubernetes-client is Debian's; a kubectl from elsewhere owns the same path).
if command -v kubectl >/dev/null; then
  want=$(echo "$want" | grep -vx kubernetes-client)
fi
missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "installing:$missing"
  export DEBIAN_FRONTEND=noninteractive
  $sudo_ apt-get update -qq
  # shellcheck disable=SC2086
  $sudo_ apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
if [ ! -x node_modules/.bin/mock-llm ] || [ ! -d node_modules/@20minutes/s3rver ]; then
  if [ "$npm_dev" = 1 ]; then
    npm install --no-audit --no-fund --loglevel=error
  elif command -v npm >/dev/null; then
    npm install --omit=dev --no-audit --no-fund --loglevel=error
  else
    # The demo without Debian's npm package, which brings about 335 node-* packages (most of
    # the demo's install time on a fresh machine): npm's own release from the registry
    # bundles what it needs, one 3 MB download, checked against the registry's integrity.
    npm_version=10.9.9
    npm_integrity=sha512-1g+6jLQvaIuB4zwvHL7yrXuXcWZwDsCtBX8bbWDqbvJSSr9nPiDDWTHNgwXR27iIcTTW7v3A57hDW9RYv2W4Yg==
    npm_dir=build-demo/npm-$npm_version
    if [ ! -f "$npm_dir/bin/npm-cli.js" ]; then
      mkdir -p build-demo
      curl -fsSL --retry 3 -o "$npm_dir.tgz" "https://registry.npmjs.org/npm/-/npm-$npm_version.tgz"
      got=$(node -e 'const c = require("crypto"), fs = require("fs");
        process.stdout.write("sha512-" + c.createHash("sha512").update(fs.readFileSync(process.argv[1])).digest("base64"))' "$npm_dir.tgz")
      if [ "$got" != "$npm_integrity" ]; then
        echo "npm-$npm_version.tgz: integrity $got, expected $npm_integrity" >&2
        exit 1
      fi
      mkdir -p "$npm_dir"
      tar -xzf "$npm_dir.tgz" -C "$npm_dir" --strip-components=1
      rm -f "$npm_dir.tgz"
    fi
    node "$npm_dir/bin/npm-cli.js" install --omit=dev --no-audit --no-fund --update-notifier=false --loglevel=error
  fi
fi
if [ "$npm_dev" = 1 ] && { [ ! -d node_modules/kubernetes-models ] || [ ! -d node_modules/@kubernetes-models/prometheus-operator ] ||
                           [ ! -d node_modules/@openfeature/ofrep-provider ] || [ ! -d node_modules/@openfeature/ofrep-web-provider ]; }; then
  npm install --no-audit --no-fund --loglevel=error
fi
