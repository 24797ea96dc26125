#!/usr/bin/env bash
# The README's test command: installs what is missing, builds every plugin from source, checks
# formatting and lints, and runs all tests (unit, integration, CLI) against the fresh builds.
# Slow artefacts are cached outside the checkout (see scripts/env.sh), so a second run on the
# same machine only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh

step() { printf '\n== %s\n' "$*" >&2; }

step "system packages for the host build (cmake, curl and OpenSSL headers for librdkafka)"
scripts/setup-host-deps.sh

step "test services (tansu, a Kafka-protocol broker; SeaweedFS; table readers; promtool)"
scripts/setup-test-services.sh

step "containers (podman with runc, a Debian base image made locally)"
# The container test builds and runs the image with podman. Where podman cannot be set up, say
# so here, in the output, and the test prints it too instead of running.
if ! setup_out="$(scripts/setup-containers.sh 2>&1)"; then
  export WEIR_SKIP_CONTAINER_TEST="scripts/setup-containers.sh failed: $(printf '%s' "$setup_out" | tail -n 3 | tr '\n' ' ')"
  echo "SKIPPED: the container test: $WEIR_SKIP_CONTAINER_TEST" >&2
fi

step "guest toolchain and plugins (wasm32-wasip2 components)"
scripts/build-plugins.sh --no-copy

step "forget builds of other checkouts"
# Cargo records the sources of a package that lie outside its folder (tests/, wit/) by absolute
# path in its fingerprints. With the target folder shared between checkouts (scripts/env.sh), a
# test binary built from another checkout that still exists would look fresh here, and run that
# checkout's tests. Those fingerprints are dropped, so cargo checks this checkout's files.
root="$(pwd -P)"
for dep in "$CARGO_TARGET_DIR"/*/.fingerprint/weir-*/dep-*; do
  [ -f "$dep" ] || continue
  if grep -aq '/host/\.\./' "$dep" && ! grep -aqF "$root/host/../" "$dep"; then
    rm -rf "$(dirname "$dep")"
  fi
done

step "format"
cargo fmt --all -- --check
(cd plugins && cargo fmt --all -- --check)

step "plugin SDK and examples: native unit tests and lints"
(cd plugins && CARGO_TARGET_DIR="$WEIR_CACHE/plugins-native-target" cargo clippy --workspace --all-targets --locked -q -- -D warnings)
(cd plugins && CARGO_TARGET_DIR="$WEIR_CACHE/plugins-native-target" cargo test --workspace --locked -q)

step "host: lints"
cargo clippy --workspace --all-targets --locked -q -- -D warnings

step "host: unit and integration tests"
cargo test --workspace --locked

echo "all tests passed" >&2
