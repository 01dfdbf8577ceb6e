#!/usr/bin/env bash
# Podman (Debian) with berth-runtime as its OCI runtime, on a private storage root, run root
# and tmpdir, the cgroupfs manager, no networking and no event log, so nothing of the host's
# own Podman state is touched. Runs `podman run --rm`, a detached container with `podman
# exec`, and `podman stop`.
#
# Podman's default rlimits (nofile and nproc 1048576) exceed the hard limits this sandbox
# allows (nofile 20000, nproc ~96000) and cannot be raised here (no CAP_SYS_RESOURCE), and
# berth-runtime, like runc, fails the container when setrlimit fails: containers get
# --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 (also in the private containers.conf).
#
#   tests/interop/podman.sh /path/to/berth-runtime
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/interop/lib.sh
source "$here/lib.sh"

[ $# -eq 1 ] || die "usage: $0 /path/to/berth-runtime"
BIN=$(realpath "$1")
[ -x "$BIN" ] || die "$BIN is not executable"
command -v podman >/dev/null || die "podman not found (apt-get install podman)"

WORK=$(mktemp -d /tmp/berth-interop-podman.XXXXXX)
mkdir -p "$WORK/root" "$WORK/runroot" "$WORK/tmp" "$WORK/config"
# A containers.conf of our own, so host or user configuration cannot change what runs.
cat >"$WORK/config/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
netns = "none"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "none"
runtime = "berth"
[engine.runtimes]
berth = ["$BIN"]
EOF
export CONTAINERS_CONF=$WORK/config/containers.conf

podman() {
    command podman --root "$WORK/root" --runroot "$WORK/runroot" --tmpdir "$WORK/tmp" \
        --cgroup-manager cgroupfs --runtime "$BIN" --events-backend none \
        --storage-driver overlay --runtime-flag "root=$WORK/runtime-root" "$@"
}

cleanup() {
    local rc=$?
    # Only our private storage: containers (their conmon exits with them), then images.
    # (Not `system reset`, which also drops host-wide network configuration.)
    podman rm -a -f -t 0 >/dev/null 2>&1 || true
    podman rmi -a -f >/dev/null 2>&1 || true
    unmount_under "$WORK"
    rm -rf "$WORK"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

image_tar=$(make_image_archive "$WORK")
podman load -i "$image_tar" >"$WORK/load.log" 2>&1 || { cat "$WORK/load.log" >&2; die "podman load"; }

run=(run --network none --ulimit nofile=1024:1024 --ulimit nproc=4096:4096)
out=$(podman "${run[@]}" --rm "$INTEROP_IMAGE" echo hi)
check_output "podman run --rm echo hi" "hi" "$out"

# A terminal: conmon hands berth-runtime a --console-socket and reads the pty master.
out=$(podman "${run[@]}" -t --rm "$INTEROP_IMAGE" sh -c 'tty; echo tty-hi' | tr -d '\r')
check_output "podman run -t" "$(printf '/dev/pts/0\ntty-hi')" "$out"

out=$(podman "${run[@]}" --rm "$INTEROP_IMAGE" sh -c 'cat /proc/1/comm; exit 3' || echo "exit=$?")
check_output "podman run exit code" "$(printf 'sh\nexit=3')" "$out"

podman "${run[@]}" -d --name berth-interop-detached "$INTEROP_IMAGE" \
    sh -c 'trap "exit 0" TERM; while :; do sleep 0.1; done' >/dev/null
out=$(podman exec berth-interop-detached sh -c 'echo exec-hi; cat /proc/1/comm')
check_output "podman exec" "$(printf 'exec-hi\nsh')" "$out"
out=$(podman exec -t berth-interop-detached sh -c 'tty >/dev/null && echo exec-tty' | tr -d '\r')
check_output "podman exec -t" "exec-tty" "$out"
podman pause berth-interop-detached >/dev/null
check_output "podman pause" "paused" "$(podman inspect -f '{{.State.Status}}' berth-interop-detached)"
podman unpause berth-interop-detached >/dev/null
check_output "podman unpause" "running" "$(podman inspect -f '{{.State.Status}}' berth-interop-detached)"
podman stop -t 5 berth-interop-detached >/dev/null
status=$(podman inspect -f '{{.State.Status}} {{.State.ExitCode}}' berth-interop-detached)
check_output "podman stop" "exited 0" "$status"
podman rm berth-interop-detached >/dev/null

log "PASS ($(command podman --version), conmon $(conmon --version 2>/dev/null | head -n1 | awk '{print $3}'))"
