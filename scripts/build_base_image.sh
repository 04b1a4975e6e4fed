#!/usr/bin/env bash
# A Debian bookworm base image with Python 3.11 from Debian's own packages, made locally with
# debootstrap and `docker import`, for machines that cannot pull images from a registry (the
# smoke, scripts/compose_smoke.sh). Real deployments use the official python image instead
# (the Dockerfile's BASE_IMAGE default). Usage: scripts/build_base_image.sh [TAG]; does nothing
# when TAG exists already. Needs root, debootstrap and access to a Debian mirror (MIRROR).
set -euo pipefail
TAG=${1:-hcl-local/debian-python:bookworm-3.11}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
DOCKER=${DOCKER:-docker}
if "$DOCKER" image inspect "$TAG" >/dev/null 2>&1; then
    echo "base image $TAG exists"
    exit 0
fi
command -v debootstrap >/dev/null || { echo "debootstrap is missing: apt-get install debootstrap" >&2; exit 1; }
rootfs=$(mktemp -d /var/tmp/hcl-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
# python3-venv and python3-distutils pull in what python3.11-venv needs (debootstrap's own
# resolver does not follow the virtual package python3.11-distutils).
debootstrap --variant=minbase --include=ca-certificates,python3.11,python3-venv,python3-distutils \
    bookworm "$rootfs" "$MIRROR" >"$rootfs.log" 2>&1 || { tail -20 "$rootfs.log" >&2; exit 1; }
rm -f "$rootfs.log"
# The same security and update suites as the official images, and the names they have.
cat >"$rootfs/etc/apt/sources.list" <<SOURCES
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SOURCES
ln -sf python3.11 "$rootfs/usr/bin/python"
ln -sf python3.11 "$rootfs/usr/bin/python3"
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/tmp/*
tar -C "$rootfs" -c . | "$DOCKER" import \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' - "$TAG"
echo "built base image $TAG"
