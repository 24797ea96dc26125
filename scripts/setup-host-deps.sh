#!/usr/bin/env bash
# Installs the Debian packages the host build needs when they are missing: cmake and the curl
# headers for librdkafka (built from source by the rdkafka crate), OpenSSL headers for TLS to
# Kafka. A second run with everything in place does nothing.
set -euo pipefail
PKGS=(cmake libcurl4-openssl-dev libssl-dev zlib1g-dev pkg-config g++)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "setup-host-deps: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -q >/dev/null || true
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
