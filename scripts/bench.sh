#!/usr/bin/env bash
# Runs Weir's benchmarks (release build). Not part of CI: they take minutes and want a quiet
# machine. Each prints records/s, ratios against a baseline measured in the same run, and peak memory.
#   scripts/bench.sh            all benchmarks
#   scripts/bench.sh plugin     only the plugin throughput benchmark
#   scripts/bench.sh pipeline   only the end-to-end pipeline benchmark (starts a tansu broker)
#   scripts/bench.sh routing    only one silver table against three routed ones (from memory)
#   scripts/bench.sh reload     only the plugin swap pause benchmark
#   scripts/bench.sh gold       only the gold aggregation benchmark (10k and 1M keys)
#   scripts/bench.sh avro       only JSON against Avro (decoding, stages, silver; from memory)
#   scripts/bench.sh intake     only the HTTP produce API under wrk, against Python's producer
#   scripts/bench.sh languages  only validate in Rust, Python and JavaScript against native code
#   scripts/bench.sh upkeep     only DuckDB over silver before and after compaction
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
scripts/build-plugins.sh --no-copy
scripts/setup-test-services.sh
# wrk (Debian's package) loads the HTTP intake.
need_wrk() { scripts/install-missing.sh wrk; }
case "${1:-all}" in
  plugin) cargo bench -p weir --bench plugin_throughput ;;
  pipeline) cargo bench -p weir --bench pipeline_throughput ;;
  routing) cargo bench -p weir --bench routing_throughput ;;
  reload) cargo bench -p weir --bench reload_pause ;;
  gold) cargo bench -p weir --bench gold_aggregate ;;
  avro) cargo bench -p weir --bench avro_decode ;;
  intake) need_wrk; cargo bench -p weir --bench intake_load ;;
  languages) cargo bench -p weir --bench plugin_languages ;;
  upkeep) cargo bench -p weir --bench upkeep_compaction ;;
  all) need_wrk; for bench in plugin_throughput pipeline_throughput routing_throughput reload_pause gold_aggregate avro_decode intake_load plugin_languages upkeep_compaction; do cargo bench -p weir --bench "$bench"; done ;;
  *) echo "unknown benchmark: $1 (plugin, pipeline, routing, reload, gold, avro, intake, languages, upkeep or all)" >&2; exit 2 ;;
esac
