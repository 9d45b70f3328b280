#!/usr/bin/env bash
# podman, set up to also work in sandboxes and CI machines: containers ask only for the
# resource limits the caller already has (without CAP_SYS_RESOURCE podman's default nofile
# request fails), and runc with cgroupfs is used where runc is installed (crun 1.8 refuses
# cgroup "hybrid" hosts). An existing CONTAINERS_CONF is left alone.
#   deploy/podman.sh images            # any podman command
set -euo pipefail
if [ -z "${CONTAINERS_CONF:-}" ]; then
    nofile=$(ulimit -Hn); [ "$nofile" = unlimited ] && nofile=1048576
    nproc=$(ulimit -Hu); { [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ]; } && nproc=32768
    CONTAINERS_CONF="${TMPDIR:-/tmp}/lesion-containers-$(id -u).conf"
    {
        echo '[containers]'
        echo "default_ulimits = [\"nofile=$nofile:$nofile\", \"nproc=$nproc:$nproc\"]"
        if command -v runc >/dev/null 2>&1; then
            printf '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\n'
        fi
    } >"$CONTAINERS_CONF"
    export CONTAINERS_CONF
fi
exec podman "$@"
