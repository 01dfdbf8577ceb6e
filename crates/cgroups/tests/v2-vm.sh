#!/bin/sh
# Runs berth-cgroups' real-host tests (tests/host.rs) on a pure cgroup v2 host: builds the
# test binary here, then runs it inside a throwaway VM booted by cgroup2-vm (see
# /work/shared/tools/README.md). The tests detect the layout themselves, so in the VM they
# exercise the v2 paths: subtree_control delegation, v2 files, cgroup.freeze/kill and the
# eBPF device filter. Exit status is the test binary's (124 timeout, 125 VM failure).
#
#   crates/cgroups/tests/v2-vm.sh [extra test-binary args, e.g. a test name filter]
#
# CGROUP2_VM overrides the tool path; CGROUP2_VM_TIMEOUT the timeout (seconds, default 900).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
vm=${CGROUP2_VM:-}
if [ -z "$vm" ]; then
    for c in "$repo/../shared/tools/cgroup2-vm" /work/shared/tools/cgroup2-vm; do
        if [ -x "$c" ]; then vm=$c; break; fi
    done
fi
if [ -z "$vm" ] || [ ! -x "$vm" ]; then
    echo "v2-vm.sh: cgroup2-vm not found (set CGROUP2_VM)" >&2
    exit 125
fi

cd "$repo"
# The JSON build messages name the test executable exactly.
bin=$(cargo test -p berth-cgroups --test host --no-run --message-format=json \
    | grep -o '"executable":"[^"]*"' | tail -n 1 | sed 's/^"executable":"//; s/"$//')
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
    echo "v2-vm.sh: could not find the host test binary" >&2
    exit 125
fi
echo "v2-vm.sh: running $bin in a cgroup v2 VM" >&2

exec "$vm" --timeout "${CGROUP2_VM_TIMEOUT:-900}" --env RUST_BACKTRACE=1 -- \
    "$bin" --test-threads=1 --nocapture "$@"
