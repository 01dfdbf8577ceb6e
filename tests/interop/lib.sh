# shellcheck shell=bash
# Shared by the interop scripts (sourced, not run): a busybox image built locally, since there
# is no registry to pull from, and small helpers. Each script keeps everything it makes in one
# temp dir ($WORK) and removes it on exit.

# The image every peer loads: busybox-static plus a link per applet, as a docker-archive
# (`docker load`, `podman load` and `ctr images import` all read it).
INTEROP_IMAGE="berth-interop/busybox:latest"

log() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

busybox_bin() {
    local b
    for b in /bin/busybox /usr/bin/busybox; do
        if [ -x "$b" ] && "$b" --list >/dev/null 2>&1; then echo "$b"; return 0; fi
    done
    die "busybox-static is not installed"
}

# make_image_archive DIR -> prints the path of DIR/busybox.tar
make_image_archive() {
    local dir=$1 bb rootfs layer layer_id diff cfg cfg_id
    bb=$(busybox_bin)
    rootfs=$dir/rootfs
    mkdir -p "$rootfs"/{bin,etc,tmp,proc,sys,dev,root}
    cp "$bb" "$rootfs/bin/busybox"
    for a in $("$bb" --list); do
        [ "$a" = busybox ] || ln -sf busybox "$rootfs/bin/$a"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n' >"$rootfs/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
    chmod 1777 "$rootfs/tmp"
    mkdir -p "$dir/archive"
    layer=$dir/layer.tar
    tar --numeric-owner --owner=0 --group=0 -C "$rootfs" -cf "$layer" .
    diff=$(sha256sum "$layer" | cut -d' ' -f1)
    layer_id=$diff
    mkdir -p "$dir/archive/$layer_id"
    mv "$layer" "$dir/archive/$layer_id/layer.tar"
    cfg=$dir/config.json
    cat >"$cfg" <<EOF
{"architecture":"amd64","os":"linux","created":"2026-01-01T00:00:00Z",
 "config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"],"WorkingDir":"/"},
 "rootfs":{"type":"layers","diff_ids":["sha256:$diff"]},
 "history":[{"created":"2026-01-01T00:00:00Z","created_by":"berth interop busybox"}]}
EOF
    cfg_id=$(sha256sum "$cfg" | cut -d' ' -f1)
    mv "$cfg" "$dir/archive/$cfg_id.json"
    cat >"$dir/archive/manifest.json" <<EOF
[{"Config":"$cfg_id.json","RepoTags":["$INTEROP_IMAGE"],"Layers":["$layer_id/layer.tar"]}]
EOF
    tar -C "$dir/archive" -cf "$dir/busybox.tar" .
    rm -rf "$dir/archive" "$rootfs"
    echo "$dir/busybox.tar"
}

# wait_for_socket PATH SECONDS PID
wait_for_socket() {
    local sock=$1 secs=$2 pid=$3 i
    for ((i = 0; i < secs * 10; i++)); do
        [ -S "$sock" ] && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# stop_pid PID: TERM, then KILL after a grace period; only ever a PID this script started.
stop_pid() {
    local pid=$1 i
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# unmount_under DIR: lazily unmounts whatever a peer left mounted below DIR (deepest first).
unmount_under() {
    local dir=$1 mp
    awk -v d="$dir" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo |
        sort -r | while read -r mp; do umount -l "$mp" 2>/dev/null || true; done
}

# Host directories a peer creates on its own (hard-coded paths) that did not exist before we
# ran: note_absent records them, remove_if_ours removes them again (only if left empty).
OURS_IF_EMPTY=()
note_absent() {
    local d
    for d in "$@"; do [ -e "$d" ] || OURS_IF_EMPTY+=("$d"); done
}
remove_if_ours() {
    local i try left
    # Shims remove their sockets a moment after their task is gone: retry for a few seconds.
    for ((try = 0; try < 30; try++)); do
        left=0
        for ((i = ${#OURS_IF_EMPTY[@]} - 1; i >= 0; i--)); do
            [ -e "${OURS_IF_EMPTY[$i]}" ] || continue
            rmdir "${OURS_IF_EMPTY[$i]}" 2>/dev/null || left=1
        done
        [ $left -eq 0 ] && return 0
        sleep 0.1
    done
}

# check_output WHAT EXPECTED ACTUAL
check_output() {
    if [ "$2" != "$3" ]; then die "$1: expected '$2', got '$3'"; fi
    log "ok: $1"
}

# start_private_dockerd: a dockerd on its own socket and roots under $WORK (no bridge, no
# iptables); sets DOCKERD_PID and returns once $WORK/docker.sock exists.
start_private_dockerd() {
    dockerd \
        --data-root "$WORK/data" --exec-root "$WORK/exec" --pidfile "$WORK/docker.pid" \
        --host "unix://$WORK/docker.sock" \
        --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
        --storage-driver=overlay2 --exec-opt native.cgroupdriver=cgroupfs \
        >"$WORK/dockerd.log" 2>&1 &
    DOCKERD_PID=$!
    wait_for_socket "$WORK/docker.sock" 60 "$DOCKERD_PID" || die "dockerd did not come up"
}
