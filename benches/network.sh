#!/usr/bin/env bash
# The network part of a container's life, alone (berth-net's BridgeDriver, no daemon):
# netns file + lease + veth pair born in it + address, route, lo + one published port's
# iptables rules, then teardown; against a bare `unshare --net true`. Needs root. Uses only a bench bridge
# (btbench0, 10.213.250.0/24) and chains suffixed -BENCH, all removed on exit.
#
#   benches/network.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-200}
cargo build --release -q -p berth-net --example netbench
nb=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/examples/netbench
trap '"$nb" teardown' EXIT
"$nb" setup

echo "== in-process, per step (mean of $runs cycles)"
"$nb" loop "$runs"

echo "== per process (hyperfine; the cycle uses the background teardown and waits for it)"
hyperfine -N --warmup 5 --runs "$runs" \
    'unshare --net true' \
    "$nb cycle"
