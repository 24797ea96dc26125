#!/usr/bin/env bash
# The README's first command. Builds the `weir` host and runs the committed example plugins of
# pipelines/posts/ over sample posts, printing each verdict. Needs no wasm toolchain and no
# external service. (The Kafka-to-lakehouse `weir demo` replaces this once the pipeline lands.)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
scripts/setup-host-deps.sh
cargo build -q -p weir --bin weir
WEIR="$CARGO_TARGET_DIR/debug/weir"
INPUT=tests/fixtures/posts.jsonl
run() { echo; echo "\$ weir plugin test $*"; "$WEIR" plugin test "$@"; }

run pipelines/posts/validate.wasm --input "$INPUT" --config "$(cat tests/fixtures/validate-config.json)"
run pipelines/posts/normalize.wasm --input "$INPUT"
run pipelines/posts/dedup_key.wasm --input "$INPUT" --config '{"fields":["id"]}'
run pipelines/posts/avg_score.wasm --input "$INPUT" --config '{"group_by":"subreddit","field":"score"}'
