#!/usr/bin/env bash
# dockerd (Debian docker.io) with berth-runtime as an extra runtime: a private daemon on its
# own socket, data root and exec root, no bridge and no iptables, so nothing on the host
# changes. Runs `docker run --rm`, a detached container with `docker exec`, and `docker stop`.
#
#   tests/interop/docker.sh /path/to/berth-runtime
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/interop/lib.sh
source "$here/lib.sh"

[ $# -eq 1 ] || die "usage: $0 /path/to/berth-runtime"
BIN=$(realpath "$1")
[ -x "$BIN" ] || die "$BIN is not executable"
command -v dockerd >/dev/null || die "dockerd not found (apt-get install docker.io)"
# The Debian client next to dockerd, not whatever other docker CLI is first on PATH.
DOCKER_CLI=$(dirname "$(command -v dockerd)")/../bin/docker
[ -x "$DOCKER_CLI" ] || DOCKER_CLI=$(command -v docker)

WORK=$(mktemp -d /tmp/berth-interop-docker.XXXXXX)
DOCKERD_PID=
# Fixed paths: dockerd's plugin socket dir and the containerd shims' socket dir.
note_absent /run/docker /run/docker/plugins /run/containerd /run/containerd/s
cleanup() {
    local rc=$?
    if [ -n "$DOCKERD_PID" ] && [ -S "$WORK/docker.sock" ]; then
        "$DOCKER_CLI" -H "unix://$WORK/docker.sock" rm -f berth-interop-detached >/dev/null 2>&1 || true
    fi
    # dockerd stops the containerd it started (a child of its own) when it exits.
    stop_pid "$DOCKERD_PID"
    unmount_under "$WORK"
    remove_if_ours
    if [ $rc -ne 0 ] && [ -f "$WORK/dockerd.log" ]; then
        log "dockerd log (tail):"
        tail -n 40 "$WORK/dockerd.log" >&2 || true
    fi
    rm -rf "$WORK"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

image_tar=$(make_image_archive "$WORK")

log "starting dockerd ($(dockerd --version))"
dockerd \
    --data-root "$WORK/data" --exec-root "$WORK/exec" --pidfile "$WORK/docker.pid" \
    --host "unix://$WORK/docker.sock" --add-runtime "berth=$BIN" \
    --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
    --storage-driver=overlay2 --exec-opt native.cgroupdriver=cgroupfs \
    >"$WORK/dockerd.log" 2>&1 &
DOCKERD_PID=$!
wait_for_socket "$WORK/docker.sock" 60 "$DOCKERD_PID" || die "dockerd did not come up"
docker() { "$DOCKER_CLI" -H "unix://$WORK/docker.sock" "$@"; }
for _ in $(seq 100); do docker version >/dev/null 2>&1 && break; sleep 0.2; done
docker info --format '{{json .Runtimes}}' | grep -q '"berth"' || die "runtime berth not registered"

docker load -i "$image_tar" >/dev/null || die "docker load"

out=$(docker run --rm --runtime berth --network none "$INTEROP_IMAGE" echo hi)
check_output "docker run --rm echo hi" "hi" "$out"

# A terminal: the shim hands berth-runtime a --console-socket and reads the pty master.
out=$(docker run -t --rm --runtime berth --network none "$INTEROP_IMAGE" sh -c 'tty; echo tty-hi' | tr -d '\r')
check_output "docker run -t" "$(printf '/dev/pts/0\ntty-hi')" "$out"

out=$(docker run --rm --runtime berth --network none "$INTEROP_IMAGE" sh -c 'echo $(hostname | wc -c) $(cat /proc/1/comm); exit 3' || echo "exit=$?")
check_output "docker run exit code" "$(printf '13 sh\nexit=3')" "$out"

docker run -d --runtime berth --network none --name berth-interop-detached "$INTEROP_IMAGE" \
    sh -c 'trap "exit 0" TERM; while :; do sleep 0.1; done' >/dev/null
out=$(docker exec berth-interop-detached sh -c 'echo exec-hi; cat /proc/1/comm')
check_output "docker exec" "$(printf 'exec-hi\nsh')" "$out"
out=$(docker exec -t berth-interop-detached sh -c 'tty >/dev/null && echo exec-tty' | tr -d '\r')
check_output "docker exec -t" "exec-tty" "$out"
out=$(docker exec -e FOO=bar -w /tmp berth-interop-detached sh -c 'echo $FOO $(pwd)')
check_output "docker exec -e -w" "bar /tmp" "$out"
runtime=$(docker inspect -f '{{.HostConfig.Runtime}}' berth-interop-detached)
check_output "container runtime" "berth" "$runtime"
docker pause berth-interop-detached >/dev/null
check_output "docker pause" "paused" "$(docker inspect -f '{{.State.Status}}' berth-interop-detached)"
docker unpause berth-interop-detached >/dev/null
check_output "docker unpause" "running" "$(docker inspect -f '{{.State.Status}}' berth-interop-detached)"
docker stop -t 5 berth-interop-detached >/dev/null
status=$(docker inspect -f '{{.State.Status}} {{.State.ExitCode}}' berth-interop-detached)
check_output "docker stop" "exited 0" "$status"
docker rm berth-interop-detached >/dev/null

log "PASS (docker $("$DOCKER_CLI" --version))"
