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
# A bridge, subnet and iptables chains of this run's own (other berthds may be running).
key=$(( $$ % 10000 ))
bridge="bcli$key" suffix="-cli$key"
printf 'bridge = "%s"\nbip = "10.%d.%d.1/24"\nip-forward = false\niptables-chain-suffix = "%s"\n' \
    "$bridge" $(( 200 + key % 50 )) $(( key / 50 % 256 )) "$suffix" >"$tmp/daemon.toml"
"$BERTHD" --data-root "$tmp/data" --exec-root "$tmp/exec" -H "unix://$tmp/s.sock" \
    --config-file "$tmp/daemon.toml" >"$tmp/berthd.log" 2>&1 &
pid=$!
# Removes this run's bridge and chains (the jumps into them first).
unchain() {
    ip link del "$bridge" 2>/dev/null || true
    local save bin
    for save in iptables-save ip6tables-save; do
        bin=${save%-save}
        command -v "$save" >/dev/null || continue
        "$save" 2>/dev/null | awk -v s="$suffix" '/^\*/ { t = substr($0, 2) }
            /^-A / && $2 !~ s"$" { for (i = 3; i < NF; i++) if ($i == "-j" && $(i+1) ~ s"$") { $1 = ""; print t $0; break } }' |
            while read -r t rule; do eval "$bin -t $t -D $rule" 2>/dev/null || true; done
        "$save" 2>/dev/null | awk -v s="$suffix" '/^\*/ { t = substr($0, 2) }
            /^:/ && $1 ~ s"$" { print t, substr($1, 2) }' |
            while read -r t c; do "$bin" -t "$t" -F "$c" 2>/dev/null || true; "$bin" -t "$t" -X "$c" 2>/dev/null || true; done
    done
}
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; unchain; rm -rf "$tmp"; }
trap cleanup EXIT
for _ in $(seq 200); do [[ -S $tmp/s.sock ]] && break; sleep 0.05; done
export DOCKER_HOST="unix://$tmp/s.sock" BERTH_HOST="unix://$tmp/s.sock" DOCKER_CONFIG="$tmp/dockercfg"
hyperfine -N --warmup 5 --export-json "$tmp/h.json" \
    "$BERTH version" "docker version" "$BERTH ps" "docker ps"
python3 - "$tmp/h.json" <<'PY'
import json, sys
res = {x["command"].split("/")[-1]: x for x in json.load(open(sys.argv[1]))["results"]}
for cmd in ("version", "ps"):
    b, d = res[f"berth {cmd}"], res[f"docker {cmd}"]
    for stat in ("mean", "median"):
        print(f"{cmd} ({stat}): berth {b[stat]*1000:.2f} ms, docker {d[stat]*1000:.2f} ms, "
              f"docker/berth = {d[stat]/b[stat]:.1f}x")
PY
