#!/usr/bin/env bash
# Builds one plugin folder into a component, whatever its language, installing the language's
# tools into $WEIR_TOOLS when they are missing:
#   Cargo.toml      Rust: cargo build --target wasm32-wasip2 (the guest toolchain, as
#                   scripts/build-plugins.sh sets it up)
#   pyproject.toml  Python: plugin.py + plugins/python (the SDK), by componentize-py
#   package.json    JavaScript: plugin.js + plugins/js/weir-sdk bundled by rolldown, then
#                   made a component by componentize-js
# The world (transform or aggregate) is `[tool.weir] world` in pyproject.toml or `"weir":
# {"world": ...}` in package.json. A component whose sources, SDK, WIT and tools did not change
# is not built again.
#
#   scripts/build-plugin.sh DIR [OUT.wasm | OUTDIR/]    (default: DIR/<name>.wasm, where <name>
#   is the project's name with dashes as underscores: weir-validate-py -> weir_validate_py.wasm)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
. "$root/scripts/env.sh"

COMPONENTIZE_PY_VERSION="0.25.1"
log() { printf 'build-plugin: %s\n' "$*" >&2; }

[ $# -ge 1 ] && [ -d "$1" ] || { echo "usage: scripts/build-plugin.sh DIR [OUT.wasm]" >&2; exit 2; }
dir="$(cd "$1" && pwd)"
out="${2:-}"

# The plugin's name from its build file, as a file name (dashes to underscores).
name_of() {
  case "$1" in
    python) python3 -c 'import sys,tomllib; print(tomllib.load(open(sys.argv[1],"rb"))["project"]["name"])' "$dir/pyproject.toml" ;;
    js) python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["name"])' "$dir/package.json" ;;
  esac
}

world_of() {
  case "$1" in
    python) python3 -c 'import sys,tomllib; print(tomllib.load(open(sys.argv[1],"rb")).get("tool",{}).get("weir",{}).get("world","transform"))' "$dir/pyproject.toml" ;;
    js) python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("weir",{}).get("world","transform"))' "$dir/package.json" ;;
  esac
}

# A digest of everything the component is made of; the build is skipped when it is unchanged.
digest_of() {
  (cd "$root" && find wit "$@" -type f ! -name '*.wasm' ! -path '*/node_modules/*' ! -path '*/__pycache__/*' -print0 \
     | sort -z | xargs -0 sha256sum; cd "$dir" && find . -type f ! -name '*.wasm' ! -path './node_modules/*' \
     ! -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -d' ' -f1
}

fresh() { [ -f "$out" ] && [ -f "$out.sha256" ] && [ "$(cat "$out.sha256")" = "$1" ]; }

python_tools() {
  local venv="$WEIR_TOOLS/componentize-py-$COMPONENTIZE_PY_VERSION"
  if [ ! -x "$venv/bin/componentize-py" ]; then
    log "installing componentize-py $COMPONENTIZE_PY_VERSION into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "componentize-py==$COMPONENTIZE_PY_VERSION"
  fi
  echo "$venv/bin/componentize-py"
}

js_tools() {
  command -v node >/dev/null || { log "installing Node.js"; sudo_apt nodejs npm; }
  local tools="$WEIR_TOOLS/js" lock="$root/plugins/js/toolchain/package-lock.json"
  if ! cmp -s "$lock" "$tools/package-lock.json" || [ ! -d "$tools/node_modules" ]; then
    log "installing componentize-js and rolldown into $tools"
    mkdir -p "$tools"
    cp "$root/plugins/js/toolchain/package.json" "$lock" "$tools/"
    (cd "$tools" && npm ci --silent --no-audit --no-fund)
  fi
  echo "$tools"
}

sudo_apt() {
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -q >/dev/null || true
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "$@" >/dev/null
}

build_python() {
  local tool world digest
  tool="$(python_tools)"
  world="$(world_of python)"
  digest="$(digest_of plugins/python)-$COMPONENTIZE_PY_VERSION"
  fresh "$digest" && { log "$out is up to date"; return; }
  log "building $out ($world world, Python)"
  # The SDK's entry module for the world imports the plugin's plugin.py.
  "$tool" -d "$root/wit" -w "$world" componentize "weir_${world}_entry" \
    -p "$dir" -p "$root/plugins/python" -o "$out" >/dev/null
  echo "$digest" > "$out.sha256"
}

build_js() {
  local tools world digest bundle
  tools="$(js_tools)"
  world="$(world_of js)"
  digest="$(digest_of plugins/js/weir-sdk plugins/js/toolchain)"
  fresh "$digest" && { log "$out is up to date"; return; }
  log "building $out ($world world, JavaScript)"
  bundle="$(mktemp -d)/plugin.bundle.js"
  WEIR_JS_INPUT="$dir/plugin.js" WEIR_JS_SDK="$root/plugins/js/weir-sdk/index.js" WEIR_JS_OUTPUT="$bundle" \
    "$tools/node_modules/.bin/rolldown" -c "$root/plugins/js/toolchain/rolldown.config.mjs" >/dev/null
  # No HTTP: the sandbox offers none, and a component importing it would not load.
  "$tools/node_modules/.bin/componentize-js" "$bundle" --wit "$root/wit" -n "$world" \
    -d http fetch-event -o "$out" >/dev/null
  rm -rf "$(dirname "$bundle")"
  echo "$digest" > "$out.sha256"
}

build_rust() {
  local target="$WEIR_PLUGINS_TARGET" cargo=(cargo)
  # As scripts/build-plugins.sh: a rustup with the target, or Debian's rustc-web.
  if ! { command -v rustup >/dev/null && rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; }; then
    "$root/scripts/setup-guest-toolchain.sh"
    cargo=(env RUSTC=/usr/bin/rustc /usr/bin/cargo)
  fi
  (cd "$dir" && CARGO_TARGET_DIR="$target" "${cargo[@]}" build --release --target wasm32-wasip2 -q)
  local name
  name="$(cd "$dir" && "${cargo[@]}" metadata --no-deps --format-version 1 \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["packages"][0]["name"].replace("-","_"))')"
  case "$out" in "") out="$dir/$name.wasm" ;; */) out="$out$name.wasm" ;; esac
  cp "$target/wasm32-wasip2/release/$name.wasm" "$out"
  log "built $out (Rust)"
}

if [ -f "$dir/pyproject.toml" ]; then lang=python
elif [ -f "$dir/package.json" ]; then lang=js
elif [ -f "$dir/Cargo.toml" ]; then build_rust; exit 0
else echo "build-plugin: $dir has no pyproject.toml, package.json or Cargo.toml" >&2; exit 2
fi
case "$out" in
  "") out="$dir/$(name_of "$lang" | tr - _).wasm" ;;
  */) out="$out$(name_of "$lang" | tr - _).wasm" ;;
esac
mkdir -p "$(dirname "$out")"
out="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"
"build_$lang"
log "built $out"
