#!/usr/bin/env bash
# Cold pull + unpack of a ~200 MB multi-layer image from a local docker-registry, next to
# the floor (`tar -x` of the same layers, one after another) and, where installed, the
# peers (docker pull, podman pull). Usage: benches/pull.sh [runs]
# Without a running Docker daemon, a private dockerd (Debian docker.io) is started on its own
# socket and roots for the docker pull column, and stopped afterwards.
# Needs: root, docker-registry, hyperfine, a release build of berth-image-tool.
set -euo pipefail
RUNS=${1:-5}
HERE=$(cd "$(dirname "$0")" && pwd)
TOOL=${TOOL:-$HERE/../target/release/berth-image-tool}
[ -x "$TOOL" ] || cargo build --release -p berth-image --bin berth-image-tool
WORK=$(mktemp -d /var/tmp/berth-bench.XXXXXX)
REG_PID=
DOCKERD_PID=
PODMAN_CLEAN="podman images -q --filter reference=*/bench/minbase | xargs -r podman rmi -f >/dev/null 2>&1 || true"
cleanup() {
  [ -n "$REG_PID" ] && kill "$REG_PID" 2>/dev/null || true
  if [ -n "$DOCKERD_PID" ]; then
    kill "$DOCKERD_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.1; done
    awk -v d="$WORK" 'index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  fi
  command -v podman >/dev/null && sh -c "$PODMAN_CLEAN"
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$WORK/registry.yml" <<YML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $WORK/registry}}
http: {addr: 127.0.0.1:$PORT}
YML
/usr/bin/docker-registry serve "$WORK/registry.yml" >/dev/null 2>&1 &
REG_PID=$!
until curl -sf "http://127.0.0.1:$PORT/v2/" >/dev/null; do sleep 0.1; done

# The image: host directories as layers (default gzip level, like docker push).
DIRS="/usr/lib/python3.11 /usr/lib/python3 /usr/sbin /usr/share/i18n /usr/lib/x86_64-linux-gnu/perl /usr/share/perl /usr/share/zoneinfo /etc"
IMG=127.0.0.1:$PORT/bench/minbase:1
"$TOOL" --root "$WORK/seed" seed "$IMG" $DIRS >/dev/null
"$TOOL" --root "$WORK/seed" push "$IMG" "$IMG" >/dev/null
COMP=$(du -cb "$WORK"/seed/content/blobs/sha256/* | tail -1 | cut -f1)
UNPACKED=$(du -sb "$WORK/seed/snapshots" | cut -f1)
echo "image: $(echo $DIRS | wc -w) layers, $((COMP/1048576)) MiB compressed, $((UNPACKED/1048576)) MiB unpacked"

# Floor: the same gzip layers extracted with tar, sequentially, from local files.
LAYERS=$(python3 - "$WORK/seed" <<'PY'
import json, sys, os
root = sys.argv[1]
imgs = json.load(open(os.path.join(root, "images.json")))
rec = next(iter(imgs["images"].values()))
m = json.load(open(os.path.join(root, "content/blobs/sha256", rec["manifest"].split(":")[1])))
print(" ".join(os.path.join(root, "content/blobs/sha256", l["digest"].split(":")[1]) for l in m["layers"]))
PY
)
echo "$LAYERS" > "$WORK/layers"

# Each run extracts into a directory never used before: deleting the previous run's tree
# first would make ext4 pay for inode reuse checks (recently_deleted) inside the timing.
FRESH="d=\$(mktemp -d $WORK/run.XXXXXX); ln -sfn \$d $WORK/cur"
CMDS=(
  -n "berth pull" --prepare "$FRESH" "$TOOL --root $WORK/cur pull $IMG"
  -n "berth pull --no-sync" --prepare "$FRESH" "$TOOL --root $WORK/cur --no-sync pull $IMG"
  -n "tar -x floor" --prepare "$FRESH" \
     "for l in \$(cat $WORK/layers); do tar -xzf \$l -C $WORK/cur; done"
)
if ! docker info >/dev/null 2>&1 && command -v dockerd >/dev/null; then
  dockerd --data-root "$WORK/dockerd" --exec-root "$WORK/dockerd-exec" --pidfile "$WORK/dockerd.pid" \
    --host "unix://$WORK/docker.sock" --bridge=none --iptables=false --ip6tables=false \
    --ip-forward=false --ip-masq=false --storage-driver=overlay2 \
    --exec-opt native.cgroupdriver=cgroupfs >"$WORK/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  export DOCKER_HOST="unix://$WORK/docker.sock"
  for _ in $(seq 300); do docker info >/dev/null 2>&1 && break; sleep 0.1; done
fi
if docker info >/dev/null 2>&1; then
  CMDS+=(-n "docker pull" --prepare "docker rmi -f $IMG >/dev/null 2>&1 || true; docker builder prune -af >/dev/null 2>&1 || true" "docker pull -q $IMG")
else
  echo "docker: no daemon on this machine, skipped"
fi
if command -v podman >/dev/null; then
  # Every earlier bench image goes too: podman would otherwise reuse their layers.
  CMDS+=(-n "podman pull" --prepare "$PODMAN_CLEAN" "podman pull -q --tls-verify=false $IMG")
else
  echo "podman: not installed, skipped"
fi
hyperfine -w 1 -r "$RUNS" --export-markdown "$WORK/result.md" "${CMDS[@]}"
cat "$WORK/result.md"
