#!/usr/bin/env bash
# `docker run --rm --network none IMG true` with the stock docker CLI against berthd and
# against a private dockerd, and `podman run --rm --network none` where podman runs here,
# in one hyperfine run; then berthd's idle RSS. Image: busybox-static imported on each.
# Target (issue 4): berthd at least 10 × faster than dockerd.
#
# Usage: benches/daemon.sh   (RUNS=30; SKIP_BUILD=1 to use the existing release build)
# Needs: root, hyperfine, docker (CLI), dockerd (docker.io), busybox-static; podman optional.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
runs=${RUNS:-30}
for t in hyperfine docker busybox; do
    command -v "$t" >/dev/null || { echo "missing $t" >&2; exit 1; }
done
# shellcheck source=benches/lib.sh
. "$here/lib.sh"
[ -n "${SKIP_BUILD:-}" ] || make -C "$here/.." -s release-bins
work=$(mktemp -d /tmp/bb.XXXXXX)
PODMAN=
cleanup() {
    [ -z "$PODMAN" ] || podman rmi -f localhost/berth-bench:bb >/dev/null 2>&1 || true
    bench_cleanup
    rm -rf "$work"
}
trap cleanup EXIT
bench_favordynmods
bench_busybox_tar "$work/bb.tar"
bench_berthd "$work/b"
bench_dockerd "$work/k" --bridge=none
cmds=()
for eng in "berthd:$BERTHD_SOCK" "dockerd:${DOCKERD_SOCK:-}"; do
    name=${eng%%:*} sock=${eng#*:}
    [ -n "$sock" ] || continue
    DOCKER_HOST=unix://$sock docker import "$work/bb.tar" berth-bench:bb >/dev/null
    DOCKER_HOST=unix://$sock docker run --rm --network none berth-bench:bb true
    cmds+=(-n "$name" "DOCKER_HOST=unix://$sock docker run --rm --network none berth-bench:bb true")
done
if command -v podman >/dev/null && podman import -q "$work/bb.tar" localhost/berth-bench:bb >/dev/null 2>&1 \
    && podman run --rm --network none localhost/berth-bench:bb true >/dev/null 2>&1; then
    PODMAN=1
    cmds+=(-n "podman" "podman run --rm --network none localhost/berth-bench:bb true")
else
    echo "podman: does not run containers here, skipped" >&2
fi
hyperfine -w 3 -r "$runs" --export-markdown "$work/result.md" "${cmds[@]}"
cat "$work/result.md"
echo "berthd idle RSS: $(awk '/VmRSS/ {print $2 " " $3}' /proc/$BERTHD_PID/status)"
