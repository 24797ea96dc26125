# Shared settings for Weir's scripts: where slow things are cached, outside the checkout, so a
# fresh clone on a warm machine reuses them. Source it: `. scripts/env.sh`.
export WEIR_CACHE="${WEIR_CACHE:-$HOME/.cache/weir}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$WEIR_CACHE/target}"
# Guest (wasm) builds get their own target folder: they use another compiler (see below).
export WEIR_PLUGINS_TARGET="${WEIR_PLUGINS_TARGET:-$WEIR_CACHE/plugins-target}"
# Fresh plugin builds, which the tests load.
export WEIR_PLUGIN_DIR="${WEIR_PLUGIN_DIR:-$WEIR_PLUGINS_TARGET/wasm32-wasip2/release}"
# Compiled-component cache of the host.
export WEIR_CACHE_DIR="${WEIR_CACHE_DIR:-$WEIR_CACHE/components}"
# Test services (scripts/setup-test-services.sh).
export WEIR_TOOLS="${WEIR_TOOLS:-$WEIR_CACHE/tools}"
export WEIR_TANSU="${WEIR_TANSU:-$WEIR_TOOLS/bin/tansu}"
export WEIR_WEED="${WEIR_WEED:-$WEIR_TOOLS/s3/bin/weed}"
# Python with the table readers (deltalake, pyiceberg, duckdb + extensions) for the reader tests.
export WEIR_READERS="${WEIR_READERS:-$WEIR_TOOLS/readers}"
