#!/bin/sh
# Runs the tests that depend on the cgroup layout again on a pure cgroup v2 host: a throw-away
# VM booted by ../shared/tools/cgroup2-vm with this host's userland (see its README). The
# test binaries are built here and run there; they detect the layout themselves, so in the VM
# they exercise the v2 paths (subtree_control, cgroup.freeze/kill, the eBPF device filter,
# clone3 with CLONE_INTO_CGROUP).
#
#   tests/v2-vm.sh            # cgroups host tests + runtime lifecycle tests
#
# CGROUP2_VM overrides the tool's path; CGROUP2_VM_TIMEOUT the timeout per VM (default 900 s).
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
[ -x "$cg" ] && [ -x "$rt" ] || { echo "v2-vm.sh: test binaries not found" >&2; exit 125; }
# berth-runtime itself must be built for the lifecycle tests (CARGO_BIN_EXE_ points at it).
cargo build -p berth-runtime >/dev/null 2>&1

echo "v2-vm.sh: running $cg and $rt in a pure cgroup v2 VM" >&2
exec "$vm" --timeout "${CGROUP2_VM_TIMEOUT:-900}" --env RUST_BACKTRACE=1 -- \
    sh -c "\"$cg\" --test-threads=1 && \"$rt\" --test-threads=2"
