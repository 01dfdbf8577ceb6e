#!/usr/bin/env bash
# Attach path (issue 4): 100 MiB through `docker run -i --rm IMG cat` (stdin → container →
# stdout, json-file logging on, as by default) with the stock docker CLI against berthd and
# against a private dockerd, in one hyperfine run; the data is text (base64 of random bytes,
# 100 MiB) and, separately, raw random bytes (every invalid UTF-8 byte costs the log writer
# an escape, on both engines). A plain pipe through `cat` is the floor.
# Usage: benches/attach.sh   (RUNS=5; SKIP_BUILD=1 to use the existing release build)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
runs=${RUNS:-5}
# shellcheck source=benches/lib.sh
. "$here/lib.sh"
[ -n "${SKIP_BUILD:-}" ] || make -C "$here/.." -s release-bins
bench_workdir ba
bench_busybox_tar "$work/bb.tar"
head -c 76M /dev/urandom | base64 -w 76 >"$work/text"
truncate -s 100M "$work/text"
head -c 100M /dev/urandom >"$work/random"
bench_berthd "$work/b"
bench_dockerd "$work/k" --bridge=none
cmds=()
for data in text random; do
    cmds+=(-n "pipe ($data)" "cat <$work/$data | cat >/dev/null")
    for eng in "berthd:$BERTHD_SOCK" "dockerd:${DOCKERD_SOCK:-}"; do
        name=${eng%%:*} sock=${eng#*:}
        [ -n "$sock" ] || continue
        if [ "$data" = text ]; then
            DOCKER_HOST=unix://$sock docker import "$work/bb.tar" berth-bench:bb >/dev/null
        fi
        cmds+=(-n "$name ($data)"
            "DOCKER_HOST=unix://$sock docker run -i --rm --network none berth-bench:bb cat <$work/$data | cat >/dev/null")
    done
done
hyperfine -w 1 -r "$runs" --export-markdown "$work/result.md" "${cmds[@]}"
cat "$work/result.md"
