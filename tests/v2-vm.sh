#!/bin/sh
# Runs the tests that depend on the cgroup layout, and on the kernel's age, again on a pure
# cgroup v2 host: a throw-away VM booted by ../shared/tools/cgroup2-vm with this host's
# userland (see its README) and Debian 12's own kernel (6.1). The test binaries are built here
# and run there; they detect the layout themselves, so in the VM they exercise the v2 paths
# (subtree_control, cgroup.freeze/kill, the eBPF device filter, clone3 with
# CLONE_INTO_CGROUP), and the older kernel's paths (overlay mounts without `lowerdir+`).
#
#   tests/v2-vm.sh   # cgroups host tests, runtime lifecycle tests, overlay snapshot tests,
#                    # and berthd driven by the docker CLI (limits, pause, exec, volumes)
#
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
vm=${CGROUP2_VM:-}
if [ -z "$vm" ]; then
    for c in "$repo/../shared/tools/cgroup2-vm" /work/shared/tools/cgroup2-vm; do
        if [ -x "$c" ]; then vm=$c; break; fi
    done
fi
[ -n "$vm" ] && [ -x "$vm" ] || { echo "v2-vm.sh: cgroup2-vm not found (set CGROUP2_VM)" >&2; exit 125; }
cd "$repo"

# test binary path for `-p PKG --test NAME`, from cargo's JSON build messages
testbin() {
    cargo test -p "$1" --test "$2" --no-run --message-format=json 2>/dev/null \
        | grep -o '"executable":"[^"]*"' | grep "/$2-" | tail -n 1 | sed 's/^"executable":"//; s/"$//'
}
cg=$(testbin berth-cgroups host)
rt=$(testbin berth-runtime lifecycle)
sn=$(testbin berth-image snapshot)
dc=$(testbin berthd docker_cli)
for b in "$cg" "$rt" "$sn" "$dc"; do
    [ -x "$b" ] || { echo "v2-vm.sh: test binaries not found" >&2; exit 125; }
done
# The binaries the tests start (CARGO_BIN_EXE_ and the daemon tests' harness point at them).
cargo build -p berth-runtime -p berthd -p berth-shim >/dev/null 2>&1

# berthd's tests: a container's limits in its cgroup, pause/unpause (cgroup.freeze), exec,
# kill/restart/wait, binds and volumes on overlay.
dtests="memory_pids_and_cpu kill_restart_pause run_rm_echo exec_runs_in bind_mounts_and_named cgroupns_private"
echo "v2-vm.sh: running the cgroups, runtime, snapshot and berthd tests in a pure cgroup v2 VM" >&2
exec "$vm" --timeout "${CGROUP2_VM_TIMEOUT:-900}" --env RUST_BACKTRACE=1 -- \
    sh -c "\"$cg\" --test-threads=1 && \"$rt\" --test-threads=2 \
        && (cd crates/image && \"$sn\" --test-threads=2) \
        && (cd crates/daemon && \"$dc\" --test-threads=2 $dtests)"
