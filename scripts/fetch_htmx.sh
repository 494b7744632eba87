#!/usr/bin/env bash
# Fetch htmx from the npm registry into static/vendor (not committed: it is a dependency).
set -euo pipefail
version="$1"; target="$2"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "htmx.org@${version}" >/dev/null && tar xzf htmx.org-*.tgz)
mkdir -p "$(dirname "$target")"
cp "$work/package/dist/htmx.min.js" "$target"
