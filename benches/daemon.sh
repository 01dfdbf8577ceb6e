#!/usr/bin/env bash
# berthd vs podman: `docker run --rm --network none IMG true` (the stock docker CLI against
# berthd) and `podman run --rm --network none IMG true`, one hyperfine run with both, plus
# berthd's idle RSS. The image is busybox-static imported from a rootfs tarball on both.
#
# Usage: benches/daemon.sh   (builds release berthd + berth-shim first)
# Needs: hyperfine docker (CLI) busybox-static; podman optional.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runs=${RUNS:-30}
for t in hyperfine docker busybox; do
    command -v "$t" >/dev/null || { echo "missing $t" >&2; exit 1; }
done
(cd "$here" && cargo build -q --release -p berthd -p berth-shim)
bin=$here/target/release

# Short paths: shim sockets live under the exec root and must fit in sun_path.
work=$(mktemp -d /tmp/bb.XXXXXX)
pid=
cleanup() {
    if [ -n "$pid" ]; then
        DOCKER_HOST=unix://$work/s docker rm -f $(DOCKER_HOST=unix://$work/s docker ps -aq) >/dev/null 2>&1 || true
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    for m in "$work"/d/containers/*/merged; do umount -l "$m" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/root/bin"
cp "$(command -v busybox)" "$work/root/bin/busybox"
for a in true sh echo; do ln -s busybox "$work/root/bin/$a"; done
tar -C "$work/root" -cf "$work/bb.tar" .

"$bin/berthd" --data-root "$work/d" --exec-root "$work/e" -H "unix://$work/s" \
    --config-file /dev/null --log-level warn 2>"$work/berthd.log" &
pid=$!
for _ in $(seq 100); do [ -S "$work/s" ] && break; sleep 0.05; done
export DOCKER_HOST=unix://$work/s
docker import "$work/bb.tar" berth-bench:bb >/dev/null
docker run --rm --network none berth-bench:bb true

cmds=(-n "berthd (docker CLI)" "docker run --rm --network none berth-bench:bb true")
if command -v podman >/dev/null && podman import -q "$work/bb.tar" localhost/berth-bench:bb >/dev/null 2>&1 \
    && podman run --rm --network none localhost/berth-bench:bb true >/dev/null 2>&1; then
    cmds+=(-n "podman" "podman run --rm --network none localhost/berth-bench:bb true")
fi
hyperfine -w 3 -r "$runs" "${cmds[@]}"
if command -v podman >/dev/null; then podman rmi -f localhost/berth-bench:bb >/dev/null 2>&1 || true; fi

echo "berthd idle RSS: $(awk '/VmRSS/ {print $2 " " $3}' /proc/$pid/status)"
