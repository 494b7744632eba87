#!/usr/bin/env bash
# Fetch the chat's icons (Lucide, ISC licence) from the npm registry into static/vendor/lucide
# (not committed: they are a dependency). Usage: fetch_icons.sh VERSION TARGET_DIR ICON...
set -euo pipefail
version="$1"; target="$2"; shift 2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "lucide-static@${version}" >/dev/null && tar xzf lucide-static-*.tgz)
mkdir -p "$target"
for icon in "$@"; do cp "$work/package/icons/${icon}.svg" "$target/"; done
cp "$work/package/LICENSE" "$target/LICENSE"
