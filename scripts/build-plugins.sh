#!/usr/bin/env bash
# Builds every plugin in plugins/ (SDK, examples, hostile test plugins) into wasm32-wasip2
# components, installing the guest toolchain first if it is missing, and copies the example
# components into pipelines/posts/ (they are committed, so `weir demo` needs no wasm toolchain).
# The Python and JavaScript plugins (a pyproject.toml or package.json with a plugin.py or
# plugin.js) are built by scripts/build-plugin.sh into the same folder, named after their
# project (weir-validate-py -> weir_validate_py.wasm).
#
#   scripts/build-plugins.sh            build all, refresh pipelines/posts/*.wasm
#   scripts/build-plugins.sh --no-copy  build all, leave pipelines/ alone
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh

copy=1
[ "${1:-}" = "--no-copy" ] && copy=0

# A normal rustup with the target installed builds plugins as is; otherwise (these machines:
# rustup cannot add wasm targets) use Debian's rustc-web with a locally built wasm std.
if command -v rustup >/dev/null && rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
  CARGO=(cargo)
else
  scripts/setup-guest-toolchain.sh
  CARGO=(env RUSTC=/usr/bin/rustc /usr/bin/cargo)
fi

# CI builds exactly the committed lock file; a developer adding a plugin may extend it.
locked=()
[ -n "${CI:-}" ] && locked=(--locked)
(cd plugins && CARGO_TARGET_DIR="$WEIR_PLUGINS_TARGET" "${CARGO[@]}" build --release --target wasm32-wasip2 "${locked[@]}" -q)

# The examples that pipelines use, under the names pipeline.toml files refer to.
declare -A EXAMPLES=(
  [weir_validate]=validate
  [weir_normalize]=normalize
  [weir_dedup_key]=dedup_key
  [weir_avg_score]=avg_score
)
stale=()
for crate in "${!EXAMPLES[@]}"; do
  built="$WEIR_PLUGIN_DIR/$crate.wasm"
  dest="pipelines/posts/${EXAMPLES[$crate]}.wasm"
  [ -f "$built" ] || { echo "build-plugins: $built is missing after the build" >&2; exit 1; }
  if ! cmp -s "$built" "$dest"; then
    stale+=("$dest")
    if [ "$copy" = 1 ]; then mkdir -p pipelines/posts && cp "$built" "$dest"; fi
  fi
done
if [ ${#stale[@]} -gt 0 ]; then
  if [ "$copy" = 1 ]; then
    echo "build-plugins: refreshed ${stale[*]} (commit them)" >&2
  else
    echo "build-plugins: committed components differ from this build: ${stale[*]}" >&2
  fi
fi
# Python and JavaScript plugins: each is skipped when its sources, SDK, WIT and tools are unchanged.
while IFS= read -r -d '' main; do
  scripts/build-plugin.sh "$(dirname "$main")" "$WEIR_PLUGIN_DIR/"
done < <(find plugins -path '*/node_modules' -prune -o \( -name plugin.py -o -name plugin.js \) -print0 | sort -z)
echo "build-plugins: components in $WEIR_PLUGIN_DIR" >&2
