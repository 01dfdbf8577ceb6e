#!/usr/bin/env bash
# berth-runtime vs crun vs runc: `run` of /bin/true from a prepared busybox bundle, one
# hyperfine run (so ratios compare like with like on a noisy machine), plus peak RSS.
#
# crun 1.8 refuses a hybrid cgroup host unless /sys/fs/cgroup/unified is unmounted, so the
# whole comparison runs inside one private mount namespace with it unmounted (the same
# conditions for every runtime); berth-runtime is also timed on the unmodified host.
#
# Usage: benches/runtime.sh [path/to/berth-runtime]
#   (default: the static build from `make runtime-static`, target/static/release/berth-runtime)
# Needs: hyperfine crun runc busybox-static time (Debian packages).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$here/target/static/release/berth-runtime}
runs=${RUNS:-100}
[ -x "$bin" ] || { echo "build first: make runtime-static" >&2; exit 1; }
for t in hyperfine crun runc busybox /usr/bin/time; do
    command -v "$t" >/dev/null || { echo "missing $t (apt-get install -y hyperfine crun runc busybox-static time)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/berth-bench.XXXXXX)
trap 'for r in b c r; do for id in $(ls "$work/st-$r" 2>/dev/null); do :; done; done; rm -rf "$work"' EXIT
mkdir -p "$work/bundle/rootfs/bin"
cp "$(command -v busybox)" "$work/bundle/rootfs/bin/busybox"
ln -s busybox "$work/bundle/rootfs/bin/true"
ln -s busybox "$work/bundle/rootfs/bin/sh"
(cd "$work/bundle" && runc spec)
python3 - "$work/bundle/config.json" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
json.dump(c, open(p, "w"), indent=1)
PY
cd "$work/bundle"

echo "## berth-runtime on the unmodified hybrid host"
hyperfine -N -w 10 -r "$runs" "$bin --root $work/st-b0 run b0"

echo
echo "## side by side, one run, in a mount namespace without /sys/fs/cgroup/unified (for crun)"
unshare -m bash -c "
    umount /sys/fs/cgroup/unified 2>/dev/null || true
    hyperfine -N -w 10 -r $runs --export-json $work/side.json \
        '$bin --root $work/st-b run b' \
        'crun --root $work/st-c run c' \
        'runc --root $work/st-r run r'
    echo
    echo '## peak RSS (KiB, max of 20 runs)'
    for rt in '$bin:$work/st-b' 'crun:$work/st-c' 'runc:$work/st-r'; do
        exe=\${rt%%:*}; root=\${rt#*:}; max=0
        for i in \$(seq 20); do
            kb=\$(/usr/bin/time -f %M \"\$exe\" --root \"\$root\" run m\$i 2>&1 >/dev/null | tail -1)
            [ \"\$kb\" -gt \"\$max\" ] && max=\$kb
        done
        printf '%-40s %s\n' \"\$(basename \"\$exe\")\" \"\$max\"
    done
"
python3 - "$work/side.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
med = {x["command"].split()[0].rsplit("/", 1)[-1]: x["median"] * 1000 for x in r}
b, c, ru = med["berth-runtime"], med["crun"], med["runc"]
print(f"\nmedians: berth-runtime {b:.2f} ms, crun {c:.2f} ms, runc {ru:.2f} ms")
print(f"ratios: berth/crun {b / c:.2f}, berth/runc {b / ru:.2f}, crun/runc {c / ru:.2f}  (target berth/crun <= 0.80)")
PY
