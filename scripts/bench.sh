#!/usr/bin/env bash
# Runs Weir's benchmarks (release build). Not part of CI: they take minutes and want a quiet
# machine. Each prints records/s, ratios against a baseline measured in the same run, and peak memory.
#   scripts/bench.sh            all benchmarks
#   scripts/bench.sh plugin     only the plugin throughput benchmark
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
scripts/build-plugins.sh --no-copy
case "${1:-all}" in
  plugin|all) cargo bench -p weir --bench plugin_throughput ;;
  *) echo "unknown benchmark: $1" >&2; exit 2 ;;
esac
