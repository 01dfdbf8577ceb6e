#!/usr/bin/env bash
# Image interop between berth-image and dockerd (Debian docker.io), both ways:
#   berth save  -> docker load,   docker save -> berth load,
#   berth push  -> docker pull,   docker push -> berth pull   (a local docker-registry)
# and each time the image ID (the config digest) must be the same on both sides.
# A private dockerd on its own socket/roots, no bridge, no iptables; the registry on 127.0.0.1.
#
#   tests/interop/images-dockerd.sh /path/to/berth-image-tool
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/interop/lib.sh
source "$here/lib.sh"

[ $# -eq 1 ] || die "usage: $0 /path/to/berth-image-tool"
TOOL=$(realpath "$1")
[ -x "$TOOL" ] || die "$TOOL is not executable"
command -v dockerd >/dev/null || die "dockerd not found (apt-get install docker.io)"
command -v docker-registry >/dev/null || die "docker-registry not found (apt-get install docker-registry)"
DOCKER_CLI=$(dirname "$(command -v dockerd)")/../bin/docker
[ -x "$DOCKER_CLI" ] || DOCKER_CLI=$(command -v docker)

WORK=$(mktemp -d /tmp/berth-interop-images.XXXXXX)
DOCKERD_PID=
REG_PID=
note_absent /run/docker /run/docker/plugins /run/containerd /run/containerd/s
cleanup() {
    local rc=$?
    stop_pid "$DOCKERD_PID"
    stop_pid "$REG_PID"
    unmount_under "$WORK"
    remove_if_ours
    if [ $rc -ne 0 ] && [ -f "$WORK/dockerd.log" ]; then
        log "dockerd log (tail):"
        tail -n 30 "$WORK/dockerd.log" >&2 || true
    fi
    rm -rf "$WORK"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

image_tar=$(make_image_archive "$WORK")
berth() { "$TOOL" --root "$WORK/berth" --insecure "127.0.0.1:$PORT" "$@"; }

# A free loopback port for the registry.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$WORK/registry.yml" <<YML
version: 0.1
storage:
  filesystem:
    rootdirectory: $WORK/registry
http:
  addr: 127.0.0.1:$PORT
YML
docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
REG_PID=$!

start_private_dockerd
docker() { "$DOCKER_CLI" -H "unix://$WORK/docker.sock" "$@"; }
for _ in $(seq 100); do docker version >/dev/null 2>&1 && break; sleep 0.2; done
for _ in $(seq 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1',$PORT),1)" 2>/dev/null && break
    sleep 0.1
done

id_of_berth() { berth inspect "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Id"])'; }
id_of_docker() { docker image inspect --format '{{.Id}}' "$1"; }

# 1. berth load (our own docker-archive), berth save -> docker load
berth load -i "$image_tar" >/dev/null || die "berth load"
want=$(id_of_berth "$INTEROP_IMAGE")
berth save -o "$WORK/from-berth.tar" "$INTEROP_IMAGE" || die "berth save"
docker load -i "$WORK/from-berth.tar" >/dev/null || die "docker load of berth's archive"
check_output "berth save -> docker load keeps the image ID" "$want" "$(id_of_docker "$INTEROP_IMAGE")"
out=$(docker run --rm --network none "$INTEROP_IMAGE" echo hi 2>&1) || true
# dockerd may lack a usable runtime in some sandboxes; the ID match is what this checks.
log "docker run of berth's image: $out"

# 2. docker save -> berth load (a fresh berth root)
docker tag "$INTEROP_IMAGE" berth-interop/from-docker:v1
docker save -o "$WORK/from-docker.tar" berth-interop/from-docker:v1 || die "docker save"
"$TOOL" --root "$WORK/berth2" load -i "$WORK/from-docker.tar" >/dev/null || die "berth load of docker's archive"
got=$("$TOOL" --root "$WORK/berth2" inspect berth-interop/from-docker:v1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["Id"])')
check_output "docker save -> berth load keeps the image ID" "$want" "$got"

# 3. berth push -> docker pull
berth push "$INTEROP_IMAGE" "127.0.0.1:$PORT/interop/busybox:berth" || die "berth push"
docker pull "127.0.0.1:$PORT/interop/busybox:berth" >/dev/null || die "docker pull of berth's push"
check_output "berth push -> docker pull keeps the image ID" "$want" "$(id_of_docker "127.0.0.1:$PORT/interop/busybox:berth")"

# 4. docker push -> berth pull (a fresh berth root)
docker tag "$INTEROP_IMAGE" "127.0.0.1:$PORT/interop/busybox:docker"
docker push "127.0.0.1:$PORT/interop/busybox:docker" >/dev/null || die "docker push"
"$TOOL" --root "$WORK/berth3" --insecure "127.0.0.1:$PORT" pull "127.0.0.1:$PORT/interop/busybox:docker" >/dev/null || die "berth pull of docker's push"
got=$("$TOOL" --root "$WORK/berth3" inspect "127.0.0.1:$PORT/interop/busybox:docker" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Id"])')
check_output "docker push -> berth pull keeps the image ID" "$want" "$got"
log "all image interop checks passed"
