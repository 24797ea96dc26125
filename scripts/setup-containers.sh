#!/usr/bin/env bash
# Podman, for the container test, where no Docker engine runs: Debian's podman with the runc
# runtime (crun fails on these machines: rlimits, hybrid cgroups), its settings in a file of our
# own ($WEIR_TOOLS/container/containers.conf, passed as CONTAINERS_CONF, so the machine's are
# left alone), and a Debian 12 base image made locally by debootstrap when no image registry is
# reachable (about a minute and 200 MB, once per machine; the rootfs is kept as a tar).
#
#   scripts/setup-containers.sh        prints the CONTAINERS_CONF to use and the base image
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh

BASE_IMAGE="${WEIR_BASE_IMAGE:-localhost/debian:bookworm-slim}"
dir="$WEIR_TOOLS/container"
mkdir -p "$dir"
scripts/install-missing.sh podman runc debootstrap

export CONTAINERS_CONF="$dir/containers.conf"
cat > "$CONTAINERS_CONF.new" <<'EOF'
[containers]
default_ulimits = []
pids_limit = 0

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
mv "$CONTAINERS_CONF.new" "$CONTAINERS_CONF"

if ! podman image exists "$BASE_IMAGE"; then
  tar="$dir/bookworm-minbase.tar"
  if [ ! -f "$tar" ]; then
    echo "setup-containers: making a Debian 12 base image with debootstrap (about a minute)" >&2
    rootfs="$(mktemp -d)"
    debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >/dev/null
    tar -C "$rootfs" -c . > "$tar.tmp"
    mv "$tar.tmp" "$tar"
    rm -rf "$rootfs"
  fi
  podman import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "$tar" "$BASE_IMAGE" >/dev/null
fi
echo "CONTAINERS_CONF=$CONTAINERS_CONF"
echo "WEIR_BASE_IMAGE=$BASE_IMAGE"
