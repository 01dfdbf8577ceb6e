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
BERTH=$(realpath "$BERTH") BERTHD=$(realpath "$BERTHD")
tmp=$(mktemp -d /tmp/bc.XXXXXX)  # short: shim sockets live under the exec root
# A bridge, subnet and iptables chains of this run's own (other berthds may be running).
key=$(( $$ % 10000 ))
bridge="bcli$key" suffix="-cli$key"
printf 'bridge = "%s"\nbip = "10.%d.%d.1/24"\nip-forward = false\niptables-chain-suffix = "%s"\n' \
    "$bridge" $(( 200 + key % 50 )) $(( key / 50 % 256 )) "$suffix" >"$tmp/daemon.toml"
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
pid=
cleanup() {
    [ -z "$pid" ] || { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
    unchain
    umount "$tmp/exec" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
# The exec root (berthd's and crun's state) on a tmpfs, as /run is on a standard host.
mkdir -p "$tmp/exec"
mount -t tmpfs -o mode=0711 tmpfs "$tmp/exec"
# The static shim (make shim-static) when there is one, as the daemon benches use.
shim=$(dirname "$BERTHD")/../static/release/berth-shim
[ -x "$shim" ] && printf 'shim-binary = "%s"\n' "$(realpath "$shim")" >>"$tmp/daemon.toml"
"$BERTHD" --data-root "$tmp/data" --exec-root "$tmp/exec" -H "unix://$tmp/s.sock" \
    --config-file "$tmp/daemon.toml" >"$tmp/berthd.log" 2>&1 &
pid=$!
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

# End to end: `berth run --rm --network none IMG true` (CLI → berthd → shim → runtime, the
# container created, run, reaped and removed) vs crun alone running the same busybox root
# filesystem from a prepared bundle (`runc spec`, /bin/true, no seccomp). Target: within 2 ×
# of crun. One hyperfine run, in a mount namespace without /sys/fs/cgroup/unified (crun 1.8
# refuses this hybrid host otherwise; berthd, outside it, is unaffected).
if command -v crun >/dev/null && command -v busybox >/dev/null; then
    b=$tmp/bundle
    mkdir -p "$b/rootfs/bin"
    cp "$(command -v busybox)" "$b/rootfs/bin/busybox"
    for a in true sh; do ln -s busybox "$b/rootfs/bin/$a"; done
    tar -C "$b/rootfs" -cf "$tmp/bb.tar" .
    "$BERTH" import "$tmp/bb.tar" berth-bench:bb >/dev/null
    (cd "$b" && crun spec)
    python3 - "$b/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
json.dump(c, open(sys.argv[1], "w"))
PY
    unshare -m bash -c "
        umount /sys/fs/cgroup/unified 2>/dev/null || true
        cd '$b' && hyperfine -N --warmup 5 --export-json '$tmp/run.json' \
            '$BERTH run --rm --network none berth-bench:bb /bin/true' \
            'crun --root $tmp/exec/crun run c1'"
    python3 - "$tmp/run.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
b, c = r[0], r[1]
for stat in ("mean", "median"):
    print(f"run --rm ({stat}): berth {b[stat]*1000:.2f} ms, crun {c[stat]*1000:.2f} ms, "
          f"berth/crun = {b[stat]/c[stat]:.2f}x (target <= 2x)")
PY
else
    echo "crun or busybox missing: end-to-end run skipped" >&2
fi
