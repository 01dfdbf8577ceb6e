#!/usr/bin/env bash
# Density (issue 4): N detached `sleep` containers started one after another with the stock
# docker CLI against berthd, against a private dockerd, and with podman where it works; one
# hyperfine run (each command starts all N). Then, with the N containers of each engine
# running: memory per container = PSS of the per-container monitors (berth-shim,
# containerd-shim-runc-v2, conmon) plus the daemons' PSS growth, divided by N; and the
# mean start time of the first and the last 20 containers (the 200th must cost what the 1st
# did). berthd is also driven by the berth CLI ("berthd (berth CLI)"): the docker CLI alone
# takes 15-20 ms per `docker run -d` here, more than the 20 ms target leaves for both, so
# that row shows what berthd costs per container with a client that is not the bottleneck.
# Usage: benches/density.sh   (N=200 by default; needs root, hyperfine, busybox)
set -euo pipefail
N=${N:-200}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=benches/lib.sh
. "$here/lib.sh"
[ -n "${SKIP_BUILD:-}" ] || make -C "$here/.." -s release-bins
work=$(mktemp -d /tmp/bd.XXXXXX)
PODMAN=
cleanup() {
    [ -z "$PODMAN" ] || podman ps -aq --filter name=bbd- | xargs -r podman rm -f -t 0 >/dev/null 2>&1 || true
    [ -z "$PODMAN" ] || podman rmi -f localhost/berth-bench:bb >/dev/null 2>&1 || true
    bench_cleanup
    rm -rf "$work"
}
trap cleanup EXIT
bench_favordynmods
bench_busybox_tar "$work/bb.tar"
bench_berthd "$work/b"
bench_dockerd "$work/k" --bridge=none
DOCKER_HOST=unix://$BERTHD_SOCK docker import "$work/bb.tar" berth-bench:bb >/dev/null
[ -z "$DOCKERD_SOCK" ] || DOCKER_HOST=unix://$DOCKERD_SOCK docker import "$work/bb.tar" berth-bench:bb >/dev/null
if command -v podman >/dev/null && podman import -q "$work/bb.tar" localhost/berth-bench:bb >/dev/null 2>&1 \
    && podman run --rm --network none localhost/berth-bench:bb true >/dev/null 2>&1; then
    PODMAN=1
else
    echo "podman: does not run containers here, skipped" >&2
fi

# start.sh ENGINE IMAGE CMD...: runs `CMD... bbd-I IMAGE sleep 36000` for I in 1..N, one
# start time (µs) per line in $WORK/ENGINE.times.
cat >"$work/start.sh" <<'SH'
#!/usr/bin/env bash
set -eu
eng=$1 img=$2; shift 2
out=$WORK/$eng.times
: >"$out"
for i in $(seq "$N"); do
    t0=${EPOCHREALTIME/./}
    "$@" "bbd-$i" "$img" sleep 36000 >/dev/null
    t1=${EPOCHREALTIME/./}
    echo $((t1 - t0)) >>"$out"
done
SH
chmod +x "$work/start.sh"
export WORK=$work N

pids() { pgrep -f "$1" | tr '\n' ' '; }
daemon_pss() { bench_pss_kib $1; }
berthd_pss0=$(daemon_pss "$BERTHD_PID")
dockerd_pids=
[ -z "$DOCKERD_SOCK" ] || dockerd_pids="$DOCKERD_PID $(pids "containerd.*$work/k/e")"
dockerd_pss0=$( [ -z "$dockerd_pids" ] && echo 0 || daemon_pss "$dockerd_pids")

run="docker run -d --network none --name"
cmds=(-n "berthd" --prepare "bench_rm_all $BERTHD_SOCK"
      "DOCKER_HOST=unix://$BERTHD_SOCK $work/start.sh berth berth-bench:bb $run")
cmds+=(-n "berthd (berth CLI)" --prepare "bench_rm_all $BERTHD_SOCK"
      "BERTH_HOST=unix://$BERTHD_SOCK $work/start.sh berthcli berth-bench:bb $BENCH_ROOT/target/release/berth run -d --network none --name")
if [ -n "$DOCKERD_SOCK" ]; then
    cmds+=(-n "dockerd" --prepare "bench_rm_all $DOCKERD_SOCK"
           "DOCKER_HOST=unix://$DOCKERD_SOCK $work/start.sh docker berth-bench:bb $run")
fi
if [ -n "$PODMAN" ]; then
    cmds+=(-n "podman" --prepare "podman ps -aq --filter name=bbd- | xargs -r podman rm -f -t 0 >/dev/null 2>&1 || true"
           "$work/start.sh podman localhost/berth-bench:bb podman run -d --network none --name")
fi
export -f bench_rm_all
hyperfine -S bash -r 1 --export-markdown "$work/result.md" "${cmds[@]}"
cat "$work/result.md"

per() { awk -v t="$1" -v n="$N" 'BEGIN { printf "%.0f KiB", t / n }'; }
first_last() {
    awk -v n="$N" 'NR <= 20 { a += $1 } NR > n - 20 { b += $1 }
        END { printf "first 20: %.1f ms, last 20: %.1f ms", a / 20000, b / 20000 }' "$1"
}
shims=$(pids "berth-shim.*$work/b/")
b_shim=$(bench_pss_kib $shims)
b_growth=$(( $(daemon_pss "$BERTHD_PID") - berthd_pss0 ))
echo "berthd: $(echo $shims | wc -w) shims, shim PSS $(per "$b_shim")/container, berthd growth $(per "$b_growth")/container, total $(per $((b_shim + b_growth)))/container; docker CLI $(first_last "$work/berth.times"); berth CLI $(first_last "$work/berthcli.times"); berthd RSS $(awk '/VmRSS/ {print $2 " " $3}' /proc/$BERTHD_PID/status)"
if [ -n "$DOCKERD_SOCK" ]; then
    shims=$(pids "containerd-shim.*$work/k/")
    d_shim=$(bench_pss_kib $shims)
    d_growth=$(( $(daemon_pss "$dockerd_pids") - dockerd_pss0 ))
    echo "dockerd: $(echo $shims | wc -w) shims, shim PSS $(per "$d_shim")/container, dockerd+containerd growth $(per "$d_growth")/container, total $(per $((d_shim + d_growth)))/container; $(first_last "$work/docker.times")"
fi
if [ -n "$PODMAN" ]; then
    shims=$(pids "conmon.*-n bbd-")
    p_shim=$(bench_pss_kib $shims)
    echo "podman: $(echo $shims | wc -w) conmons, PSS $(per "$p_shim")/container; $(first_last "$work/podman.times")"
fi
