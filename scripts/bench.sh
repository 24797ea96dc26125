#!/usr/bin/env bash
# Runs Weir's benchmarks (release build). Not part of CI: they take minutes and want a quiet
# machine. Each prints records/s, ratios against a baseline measured in the same run, and peak memory.
#   scripts/bench.sh            all benchmarks
#   scripts/bench.sh plugin     only the plugin throughput benchmark
#   scripts/bench.sh pipeline   only the end-to-end pipeline benchmark (starts a tansu broker)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
scripts/build-plugins.sh --no-copy
scripts/setup-test-services.sh
case "${1:-all}" in
  plugin) cargo bench -p weir --bench plugin_throughput ;;
  pipeline) cargo bench -p weir --bench pipeline_throughput ;;
  all) cargo bench -p weir --bench plugin_throughput && cargo bench -p weir --bench pipeline_throughput ;;
  *) echo "unknown benchmark: $1 (plugin, pipeline or all)" >&2; exit 2 ;;
esac
