#!/usr/bin/env bash
# Build the service image with podman (`make container`):
#   deploy/build-image.sh                          # localhost/lesion:latest, LiteRT serving
#   RUNTIME=keras TAG=localhost/lesion:keras deploy/build-image.sh
# Where docker.io cannot be reached (as on this project's build machines), python:3.11-slim is
# replaced by a local stand-in: Debian 12's python3.11 from the Debian mirror apt already uses,
# built with mmdebstrap. With Docker: docker build --build-arg RUNTIME=litert -t lesion .
set -euo pipefail
cd "$(dirname "$0")/.."
TAG=${TAG:-localhost/lesion:latest}
RUNTIME=${RUNTIME:-litert}
BASE=docker.io/library/python:3.11-slim
podman=deploy/podman.sh
CA=/etc/ssl/certs/ca-certificates.crt

if ! $podman image exists "$BASE" && ! $podman pull -q "$BASE" >/dev/null 2>&1; then
    echo "cannot pull $BASE: building a local stand-in from the Debian mirror" >&2
    mirror=$({ grep -rhoE "https?://[^ ]+/debian" /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null || true; } \
        | grep -v snapshot | head -1)
    mirror=${MIRROR:-${mirror:-http://deb.debian.org/debian}}
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' EXIT
    mmdebstrap --quiet --variant=minbase --include=python3.11,python3-venv,ca-certificates \
        bookworm "$scratch/rootfs.tar" "deb $mirror bookworm main" "deb $mirror bookworm-updates main" \
        "deb ${mirror}-security bookworm-security main"
    $podman import "$scratch/rootfs.tar" localhost/lesion-bookworm-rootfs:latest >/dev/null
    cat >"$scratch/Containerfile" <<'CONTAINERFILE'
FROM localhost/lesion-bookworm-rootfs:latest
RUN ln -sf /usr/bin/python3 /usr/local/bin/python && ln -sf /usr/bin/python3 /usr/local/bin/python3 \
 && rm -f /usr/lib/python3.11/EXTERNALLY-MANAGED
ENV LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CMD ["python3"]
CONTAINERFILE
    $podman build --quiet --pull=never -t "$BASE" "$scratch" >/dev/null
fi

# --format docker keeps the HEALTHCHECK (the OCI format drops it). The host's CA bundle is
# mounted into RUN steps only (pip behind a TLS-inspecting proxy); it is not stored in the image.
mounts=()
[ -f "$CA" ] && mounts=(-v "$CA:$CA:ro")
$podman build --pull=never --network host --format docker "${mounts[@]}" \
    --build-arg RUNTIME="$RUNTIME" -t "$TAG" .
$podman image inspect "$TAG" --format "built $TAG: {{.Size}} bytes"
