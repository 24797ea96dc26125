#!/usr/bin/env bash
# Installs the Debian packages the host build needs when they are missing: cmake and the curl
# headers for librdkafka (built from source by the rdkafka crate), OpenSSL headers for TLS to
# Kafka. A second run with everything in place does nothing.
set -euo pipefail
exec "$(dirname "$0")/install-missing.sh" cmake libcurl4-openssl-dev libssl-dev zlib1g-dev pkg-config g++
