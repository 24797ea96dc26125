#!/usr/bin/env bash
# Installs what is missing to build Weir plugins (wasm32-wasip2 components) on a
# Debian 12 machine whose rustup cannot add wasm targets: Debian's rustc-web,
# plus the wasm32-wasip2 standard library built once from rustc-web's own sources.
# Idempotent: a second run with everything in place returns in well under a second.
#
# On a machine with a normal rustup you do not need this script:
#   rustup target add wasm32-wasip2
set -euo pipefail

RUSTC_WEB_VERSION="1.96.0+dfsg1-1~deb12u2"
TARGET="wasm32-wasip2"
RUSTC=/usr/bin/rustc

log() { printf 'setup-guest-toolchain: %s\n' "$*" >&2; }

apt_install() {
  local pkgs=(rustc-web="$RUSTC_WEB_VERSION" cargo-web="$RUSTC_WEB_VERSION"
              rust-web-src="$RUSTC_WEB_VERSION" libstd-rust-web-dev="$RUSTC_WEB_VERSION"
              rust-web-llvm="$RUSTC_WEB_VERSION" lld-22 wasi-libc)
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  log "installing ${pkgs[*]}"
  $sudo apt-get update -q >/dev/null || true
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${pkgs[@]}" >/dev/null
}

installed_version() { dpkg-query -W -f='${Version}' rustc-web 2>/dev/null || true; }

if [ "$(installed_version)" != "$RUSTC_WEB_VERSION" ] || ! command -v rust-lld >/dev/null \
   || [ ! -d /usr/lib/wasm32-wasi ]; then
  apt_install
fi

SYSROOT="$($RUSTC --print sysroot)"
LIBDIR="$SYSROOT/lib/rustlib/$TARGET/lib"
STAMP="$LIBDIR/.weir-stdbuild-$RUSTC_WEB_VERSION"
if [ -f "$STAMP" ]; then
  exit 0
fi

SRC="$SYSROOT/lib/rustlib/src/rust/library"
[ -d "$SRC" ] || SRC="$(ls -d /usr/src/rustc-*/library | head -n1)"
log "building the $TARGET standard library from $SRC (about a minute on 2 cores)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/src"
: > "$WORK/src/lib.rs"
printf '[package]\nname = "stdbuild"\nversion = "0.0.0"\nedition = "2021"\n[workspace]\n' > "$WORK/Cargo.toml"
(
  cd "$WORK"
  RUSTC_BOOTSTRAP=1 RUSTC=$RUSTC CARGO_TARGET_DIR="$WORK/target" \
    /usr/bin/cargo build -q --release -Zbuild-std=std,panic_abort --target "$TARGET" \
    --config "target.$TARGET.rustflags=[\"-L\",\"native=/usr/lib/wasm32-wasi\",\"-Cembed-bitcode=yes\"]"
)
mkdir -p "$LIBDIR/self-contained"
cp "$WORK/target/$TARGET/release/deps/"*.rlib "$LIBDIR/"
rm -f "$LIBDIR"/libstdbuild-*.rlib
cp /usr/lib/wasm32-wasi/*.a /usr/lib/wasm32-wasi/*.o "$LIBDIR/self-contained/"
touch "$STAMP"
log "done: $LIBDIR"
