# Shared by the benches (source it): a private dockerd and a private berthd on temporary
# roots and sockets, each stopped by `bench_cleanup` (call it from the EXIT trap).
#
#   bench_berthd DIR        → BERTHD_SOCK, BERTHD_PID (release build in target/release)
#   bench_dockerd DIR [ARGS] → DOCKERD_SOCK, DOCKERD_PID (Debian docker.io; none when missing)
# DIR must be short: shim sockets live under the exec roots and must fit in sun_path.
# Both exec roots are tmpfs mounts, as /run is on a standard host (on this dev machine /run is
# on a journal-less ext4 whose inode allocator rescans recently deleted inodes: a cost no
# production host has).

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BERTHD_PID=
DOCKERD_PID=
BERTHD_NET=
BENCH_DIRS=()

bench_berthd() {
    local dir=$1
    mkdir -p "$dir/e"
    BENCH_DIRS+=("$dir")
    mount -t tmpfs -o mode=0711 tmpfs "$dir/e"
    # The shim starts once per container: the static build (make shim-static) when there is one.
    local shim=$BENCH_ROOT/target/static/release/berth-shim
    [ -x "$shim" ] || shim=$BENCH_ROOT/target/release/berth-shim
    # Its own bridge, subnet and iptables chains, and the host's ip_forward left alone: a
    # bench daemon must not change the host's default network setup.
    local n=$((RANDOM % 200 + 20))
    BERTHD_NET="bbench$n -B$n"
    cat >"$dir/daemon.toml" <<TOML
shim-binary = "$shim"
bridge = "bbench$n"
bip = "10.$n.77.1/24"
iptables-chain-suffix = "-B$n"
ip-forward = false
cgroup-favordynmods = false
TOML
    "$BENCH_ROOT/target/release/berthd" --data-root "$dir/d" --exec-root "$dir/e" \
        -H "unix://$dir/s" --config-file "$dir/daemon.toml" --log-level ${BERTHD_LOG_LEVEL:-warn} 2>"$dir/berthd.log" &
    BERTHD_PID=$!
    BERTHD_SOCK=$dir/s
    for _ in $(seq 200); do [ -S "$BERTHD_SOCK" ] && break; sleep 0.05; done
    [ -S "$BERTHD_SOCK" ] || { echo "berthd did not start:" >&2; cat "$dir/berthd.log" >&2; return 1; }
}

bench_dockerd() {
    local dir=$1
    shift
    DOCKERD_SOCK=
    command -v dockerd >/dev/null || { echo "dockerd: not installed, skipped" >&2; return 0; }
    mkdir -p "$dir/e"
    BENCH_DIRS+=("$dir")
    mount -t tmpfs -o mode=0711 tmpfs "$dir/e"
    dockerd --data-root "$dir/d" --exec-root "$dir/e" --pidfile "$dir/dockerd.pid" \
        --host "unix://$dir/s" --iptables=false --ip6tables=false --ip-forward=false \
        --ip-masq=false --storage-driver=overlay2 --exec-opt native.cgroupdriver=cgroupfs \
        "$@" >"$dir/dockerd.log" 2>&1 &
    DOCKERD_PID=$!
    for _ in $(seq 300); do
        DOCKER_HOST=unix://$dir/s docker info >/dev/null 2>&1 && break
        sleep 0.1
    done
    if DOCKER_HOST=unix://$dir/s docker info >/dev/null 2>&1; then
        DOCKERD_SOCK=$dir/s
    else
        echo "dockerd did not start, skipped:" >&2
        tail -5 "$dir/dockerd.log" >&2
    fi
}

# Removes every container of the engine at socket $1.
bench_rm_all() {
    local ids
    ids=$(DOCKER_HOST=unix://$1 docker ps -aq 2>/dev/null || true)
    [ -z "$ids" ] || DOCKER_HOST=unix://$1 docker rm -f $ids >/dev/null 2>&1 || true
}

_bench_stop() {
    local pid=$1
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# Deletes the jumps to, and the chains, whose names end in $1 (iptables-save parsing).
bench_drop_chains() {
    local suffix=$1 t table line c
    for t in iptables ip6tables; do
        command -v "$t-save" >/dev/null || continue
        for table in nat filter; do
            "$t-save" -t "$table" 2>/dev/null | grep -E "^-A [A-Z]+ .*-j BERTH[A-Z-]*$suffix( |\$)" |
                sed 's/^-A /-D /' | while read -r line; do $t -t "$table" $line 2>/dev/null || true; done
            for c in $("$t-save" -t "$table" 2>/dev/null | grep -oE "^:BERTH[A-Z-]*$suffix " | tr -d ': '); do
                $t -t "$table" -F "$c" 2>/dev/null || true
                $t -t "$table" -X "$c" 2>/dev/null || true
            done
        done
    done
}

# Makes $work, a temporary directory /tmp/PREFIX.XXXXXX (short: shim sockets live under the
# exec roots in it), and an EXIT trap that stops the engines and removes it.
bench_workdir() {
    work=$(mktemp -d "/tmp/$1.XXXXXX")
    trap 'bench_cleanup; rm -rf "$work"' EXIT
}

bench_cleanup() {
    _bench_cg2_restore || echo "could not restore the cgroup2 mount options: $BENCH_CG2_RESTORE" >&2
    [ -z "${BERTHD_SOCK:-}" ] || bench_rm_all "$BERTHD_SOCK"
    [ -z "${DOCKERD_SOCK:-}" ] || bench_rm_all "$DOCKERD_SOCK"
    [ -z "$BERTHD_PID" ] || _bench_stop "$BERTHD_PID"
    [ -z "$DOCKERD_PID" ] || _bench_stop "$DOCKERD_PID"
    if [ -n "${BERTHD_NET:-}" ]; then
        ip link del "${BERTHD_NET% *}" 2>/dev/null || true
        bench_drop_chains "${BERTHD_NET#* }"
    fi
    local d
    for d in "${BENCH_DIRS[@]}"; do
        awk -v d="$d" 'index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r \
            | xargs -r -n1 umount -l 2>/dev/null || true
        umount -l "$d/e" 2>/dev/null || true
        rm -rf "$d"
    done
}

# A busybox-static image tarball (for `docker import`) at $1.
bench_busybox_tar() {
    local root
    root=$(mktemp -d)
    mkdir -p "$root/bin"
    cp "$(command -v busybox)" "$root/bin/busybox"
    for a in true sh echo sleep cat; do ln -s busybox "$root/bin/$a"; done
    tar -C "$root" -cf "$1" .
    rm -rf "$root"
}

# Sum of the Pss lines (KiB) of the given pids.
bench_pss_kib() {
    local total=0 p v
    for p in "$@"; do
        v=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
        total=$((total + ${v:-0}))
    done
    echo "$total"
}

# FAVORDYNMODS=1: the host's cgroup2 mount gets `favordynmods` for the run (both engines
# benefit: cgroup joins stop waiting for an RCU grace period) and its options are restored
# by bench_cleanup. berthd can do this itself (`cgroup-favordynmods = true` in daemon.toml).
BENCH_CG2_RESTORE=
bench_favordynmods() {
    [ "${FAVORDYNMODS:-0}" = 1 ] || return 0
    local mp opts
    read -r mp opts < <(awk '{ for (i = 1; i <= NF; i++) if ($i == "-") break;
        if ($(i+1) == "cgroup2" && index($5, "/sys/fs/cgroup") == 1) { print $5, $(i+3); exit } }' /proc/self/mountinfo)
    [ -n "$mp" ] || { echo "no cgroup2 mount: FAVORDYNMODS ignored" >&2; return 0; }
    case ",$opts," in *,favordynmods,*) return 0 ;; esac
    mount -o remount,favordynmods "$mp"
    BENCH_CG2_RESTORE="$mp $opts"
    echo "favordynmods set on $mp for this run" >&2
}

_bench_cg2_restore() {
    [ -n "$BENCH_CG2_RESTORE" ] || return 0
    local mp=${BENCH_CG2_RESTORE%% *} opts=${BENCH_CG2_RESTORE#* }
    # A cgroup2 remount replaces every superblock option (mount(8) would add them back).
    python3 -c 'import ctypes, sys
o = ",".join(x for x in sys.argv[2].split(",") if x not in ("rw", "ro", "favordynmods"))
libc = ctypes.CDLL(None, use_errno=True)
sys.exit(libc.mount(None, sys.argv[1].encode(), None, 32, o.encode()) != 0)' "$mp" "$opts"
}
