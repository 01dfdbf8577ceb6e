#!/usr/bin/env bash
# berth CLI vs the docker CLI against the same berthd (issue 7): `version` (one client +
# server round trip) and `ps`, one hyperfine run each; prints the ratios.
#
#   benches/cli.sh            # builds release binaries, starts a berthd on temp roots
#   BERTHD=/path/berthd BERTH=/path/berth benches/cli.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${BERTH:-}" || -z "${BERTHD:-}" ]]; then
    cargo build --release -q -p berth -p berthd -p berth-shim
    BERTH=${BERTH:-$PWD/target/release/berth}
    BERTHD=${BERTHD:-$PWD/target/release/berthd}
fi
tmp=$(mktemp -d /tmp/berth-bench-cli.XXXXXX)
"$BERTHD" --data-root "$tmp/data" --exec-root "$tmp/exec" -H "unix://$tmp/s.sock" >"$tmp/berthd.log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
for _ in $(seq 200); do [[ -S $tmp/s.sock ]] && break; sleep 0.05; done
export DOCKER_HOST="unix://$tmp/s.sock" BERTH_HOST="unix://$tmp/s.sock" DOCKER_CONFIG="$tmp/dockercfg"
hyperfine -N --warmup 5 --export-json "$tmp/h.json" \
    "$BERTH version" "docker version" "$BERTH ps" "docker ps"
python3 - "$tmp/h.json" <<'PY'
import json, sys
r = {x["command"].split("/")[-1]: x["mean"] for x in json.load(open(sys.argv[1]))["results"]}
for cmd in ("version", "ps"):
    b, d = r[f"berth {cmd}"], r[f"docker {cmd}"]
    print(f"{cmd}: berth {b*1000:.2f} ms, docker {d*1000:.2f} ms, docker/berth = {d/b:.1f}x")
PY
