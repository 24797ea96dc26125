#!/usr/bin/env bash
# The README's first command: installs what is missing, builds `weir`, and runs `weir demo`: an
# embedded Kafka-protocol broker, generated posts, the example pipeline with its committed
# plugins, and Delta tables under ./lakehouse/posts. Needs no wasm toolchain and no service.
# Arguments go to `weir demo` (e.g. --records 100000).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
scripts/setup-host-deps.sh
cargo build -q -p weir --bin weir
exec "$CARGO_TARGET_DIR/debug/weir" demo "$@"
