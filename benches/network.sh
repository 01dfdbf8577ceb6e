#!/usr/bin/env bash
# Part 1, the network part of a container's life alone (berth-net's BridgeDriver, no
# daemon): netns file + lease + veth pair born in it + address, route, lo + one published
# port's iptables rules, then teardown; against a bare `unshare --net true`. Uses only a
# bench bridge (btbench0, 10.213.250.0/24) and chains suffixed -BENCH, all removed on exit.
#
# Part 2, `docker run --rm IMG true` on the default bridge network, one hyperfine run:
# the docker CLI against a release berthd (bridge btbench1, 10.213.251.0/24, chains
# suffixed -BENCHD) and against a private dockerd (on bridge btdock1, 10.213.252.1/24, made
# here; --iptables=false: dockerd does less firewall work than berthd), and `podman run
# --rm` on podman's default network where podman runs. Everything made is removed on exit.
#
#   benches/network.sh [RUNS]      (RUNS for part 1; part 2 uses DRUNS, default 30)
# Needs root, hyperfine, busybox-static; dockerd and podman optional.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-200}
druns=${DRUNS:-30}
here=$(pwd)
cargo build --release -q -p berth-net --example netbench
cargo build --release -q -p berthd -p berth-shim
nb=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/examples/netbench
bin=$(dirname "$(dirname "$nb")")

# shellcheck source=benches/lib.sh
. "$(dirname "$0")/lib.sh"
work=$(mktemp -d /tmp/bn.XXXXXX)
berthd_pid= dockerd_pid=
cleanup() {
    "$nb" teardown || true
    if [ -n "$berthd_pid" ]; then
        ids=$(DOCKER_HOST=unix://$work/s docker ps -aq 2>/dev/null || true)
        [ -z "$ids" ] || DOCKER_HOST=unix://$work/s docker rm -f $ids >/dev/null 2>&1 || true
        kill "$berthd_pid" 2>/dev/null || true
        wait "$berthd_pid" 2>/dev/null || true
    fi
    if [ -n "$dockerd_pid" ]; then
        kill "$dockerd_pid" 2>/dev/null || true
        wait "$dockerd_pid" 2>/dev/null || true
    fi
    ip link del btdock1 2>/dev/null || true
    ip link del btbench1 2>/dev/null || true
    bench_drop_chains -BENCHD
    for m in $(awk -v w="$work" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
        umount -l "$m" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
"$nb" setup

echo "== in-process, per step (mean of $runs cycles)"
"$nb" loop "$runs"

echo "== per process (hyperfine; the cycle uses the background teardown and waits for it)"
hyperfine -N --warmup 5 --runs "$runs" \
    'unshare --net true' \
    "$nb cycle"

echo "== docker run --rm IMG true on the default bridge"
mkdir -p "$work/root/bin"
cp "$(command -v busybox)" "$work/root/bin/busybox"
ln -s busybox "$work/root/bin/true"
tar -C "$work/root" -cf "$work/bb.tar" .
shim=$here/target/static/release/berth-shim
[ -x "$shim" ] || shim=$bin/berth-shim
cat >"$work/berthd.toml" <<TOML
shim-binary = "$shim"
bridge = "btbench1"
bip = "10.213.251.1/24"
ip-forward = false
iptables-chain-suffix = "-BENCHD"
TOML
"$bin/berthd" --data-root "$work/d" --exec-root "$work/e" -H "unix://$work/s" \
    --config-file "$work/berthd.toml" --log-level warn 2>"$work/berthd.log" &
berthd_pid=$!
for _ in $(seq 200); do [ -S "$work/s" ] && break; sleep 0.05; done
DOCKER_HOST=unix://$work/s docker import "$work/bb.tar" bench:bb >/dev/null
DOCKER_HOST=unix://$work/s docker run --rm bench:bb true
cmds=(-n "berthd" "docker -H unix://$work/s run --rm bench:bb true")
if command -v dockerd >/dev/null; then
    ip link add btdock1 type bridge
    ip addr add 10.213.252.1/24 dev btdock1
    ip link set btdock1 up
    dockerd --data-root "$work/dd" --exec-root "$work/de" --pidfile "$work/dockerd.pid" \
        --host "unix://$work/ds" --bridge btdock1 --iptables=false --ip6tables=false \
        --ip-forward=false --ip-masq=false --storage-driver=overlay2 \
        --exec-opt native.cgroupdriver=cgroupfs >"$work/dockerd.log" 2>&1 &
    dockerd_pid=$!
    for _ in $(seq 300); do docker -H "unix://$work/ds" info >/dev/null 2>&1 && break; sleep 0.1; done
    if docker -H "unix://$work/ds" import "$work/bb.tar" bench:bb >/dev/null 2>&1 \
        && docker -H "unix://$work/ds" run --rm bench:bb true; then
        cmds+=(-n "dockerd" "docker -H unix://$work/ds run --rm bench:bb true")
    else
        echo "dockerd: did not run a container, skipped:" >&2
        tail -5 "$work/dockerd.log" >&2
    fi
fi
if command -v podman >/dev/null && podman import -q "$work/bb.tar" localhost/berth-netbench:bb >/dev/null 2>&1 \
    && podman run --rm localhost/berth-netbench:bb true >/dev/null 2>&1; then
    cmds+=(-n "podman" "podman run --rm localhost/berth-netbench:bb true")
else
    echo "podman: does not run containers here, skipped" >&2
fi
hyperfine -w 3 -r "$druns" "${cmds[@]}"
if command -v podman >/dev/null; then podman rmi -f localhost/berth-netbench:bb >/dev/null 2>&1 || true; fi
