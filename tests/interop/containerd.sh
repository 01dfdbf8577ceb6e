#!/usr/bin/env bash
# containerd (Debian) with berth-runtime in place of runc (`ctr run --runc-binary`, the runc v2
# shim's option): a private daemon with its own root, state, sockets and no CRI plugin. Runs
# `ctr run --rm` (output and exit code), then a detached task with `ctr task exec` and `kill`.
#
#   tests/interop/containerd.sh /path/to/berth-runtime
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/interop/lib.sh
source "$here/lib.sh"

[ $# -eq 1 ] || die "usage: $0 /path/to/berth-runtime"
BIN=$(realpath "$1")
[ -x "$BIN" ] || die "$BIN is not executable"
command -v containerd >/dev/null || die "containerd not found (apt-get install containerd)"
command -v ctr >/dev/null || die "ctr not found (apt-get install containerd)"

WORK=$(mktemp -d /tmp/berth-interop-containerd.XXXXXX)
SOCK=$WORK/containerd.sock
NS=berth-interop
CONTAINERD_PID=
# The shims' socket dir is fixed; ctr's fifo dir and the runtime root are passed explicitly.
note_absent /run/containerd /run/containerd/s
cat >"$WORK/config.toml" <<EOF
version = 2
root = "$WORK/root"
state = "$WORK/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$WORK/opt"
EOF

ctr() { command ctr -a "$SOCK" -n "$NS" "$@"; }
# Every run: berth-runtime as the shim's runtime, its state and ctr's fifos under $WORK.
RUN_OPTS=(--runc-binary "$BIN" --runc-root "$WORK/runtime-root" --fifo-dir "$WORK/fifo")

cleanup() {
    local rc=$?
    if [ -n "$CONTAINERD_PID" ] && [ -S "$SOCK" ]; then
        ctr task kill -s KILL berth-interop-detached >/dev/null 2>&1 || true
        sleep 0.3
        ctr task delete -f berth-interop-detached >/dev/null 2>&1 || true
        ctr container delete berth-interop-detached >/dev/null 2>&1 || true
        ctr container delete berth-interop-rm >/dev/null 2>&1 || true
    fi
    # Shims outlive containerd by design; ours are gone once their tasks are deleted.
    stop_pid "$CONTAINERD_PID"
    unmount_under "$WORK"
    remove_if_ours
    if [ $rc -ne 0 ] && [ -f "$WORK/containerd.log" ]; then
        log "containerd log (tail):"
        tail -n 40 "$WORK/containerd.log" >&2 || true
    fi
    rm -rf "$WORK"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

image_tar=$(make_image_archive "$WORK")

log "starting $(containerd --version)"
containerd --config "$WORK/config.toml" >"$WORK/containerd.log" 2>&1 &
CONTAINERD_PID=$!
wait_for_socket "$SOCK" 60 "$CONTAINERD_PID" || die "containerd did not come up"
for _ in $(seq 100); do ctr version >/dev/null 2>&1 && break; sleep 0.2; done

ctr images import "$image_tar" >"$WORK/import.log" 2>&1 || { cat "$WORK/import.log" >&2; die "ctr images import"; }
IMG=docker.io/$INTEROP_IMAGE
ctr images ls -q | grep -qx "$IMG" || die "image $IMG not imported: $(ctr images ls -q)"

out=$(ctr run --rm "${RUN_OPTS[@]}" "$IMG" berth-interop-rm echo hi)
check_output "ctr run --rm echo hi" "hi" "$out"

rc=0
out=$(ctr run --rm "${RUN_OPTS[@]}" "$IMG" berth-interop-rm sh -c 'cat /proc/1/comm; exit 3') || rc=$?
check_output "ctr run exit code" "$(printf 'sh\nexit=3')" "$(printf '%s\nexit=%s' "$out" "$rc")"

ctr run -d "${RUN_OPTS[@]}" "$IMG" berth-interop-detached \
    sh -c 'trap "exit 0" TERM; while :; do sleep 0.1; done' >/dev/null
out=$(ctr task exec --fifo-dir "$WORK/fifo" --exec-id e1 berth-interop-detached sh -c 'echo exec-hi; cat /proc/1/comm')
check_output "ctr task exec" "$(printf 'exec-hi\nsh')" "$out"
task_status() { ctr task ls | awk -v id="$1" '$1 == id { print $3 }'; }
ctr task pause berth-interop-detached
check_output "ctr task pause" "PAUSED" "$(task_status berth-interop-detached)"
ctr task resume berth-interop-detached
check_output "ctr task resume" "RUNNING" "$(task_status berth-interop-detached)"
ctr task kill -s TERM berth-interop-detached
status=
for _ in $(seq 100); do
    status=$(task_status berth-interop-detached)
    [ "$status" = STOPPED ] && break
    sleep 0.1
done
check_output "ctr task kill TERM" "STOPPED" "$status"
ctr task delete berth-interop-detached >/dev/null
ctr container delete berth-interop-detached

log "PASS ($(containerd --version | awk '{print $3}'), ctr $(command ctr --version | awk '{print $3}'))"
