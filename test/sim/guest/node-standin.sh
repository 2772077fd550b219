#!/bin/bash
# skiff EC2 simulator: this image's Node.js. It reports the version in /usr/lib/skiff-sim/node-version (for
# `node --version`, process.version and process.versions.node) and is the host's Node for everything else.
version=$(cat /usr/lib/skiff-sim/node-version)
case "${1:-}" in
  --version | -v)
    echo "v$version"
    exit 0
    ;;
esac
exec /usr/lib/skiff-sim/node-real --require /usr/lib/skiff-sim/node-version.cjs "$@"
