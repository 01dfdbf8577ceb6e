#!/usr/bin/env bash
# `docker logs` of a big json-file log (400 000 lines, ~52 MB of entries over three rotated
# files) with the stock docker CLI against berthd and against a private dockerd, in one
# hyperfine run: the whole log, `--tail 10`, and `--timestamps`.
# Usage: benches/logs.sh   (RUNS=5; SKIP_BUILD=1 to use the existing release build)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
runs=${RUNS:-5}
# shellcheck source=benches/lib.sh
. "$here/lib.sh"
[ -n "${SKIP_BUILD:-}" ] || make -C "$here/.." -s release-bins
bench_workdir bl
bench_busybox_tar "$work/bb.tar"
bench_berthd "$work/b"
bench_dockerd "$work/k" --bridge=none
cmds=()
for eng in "berthd:$BERTHD_SOCK" "dockerd:${DOCKERD_SOCK:-}"; do
    name=${eng%%:*} sock=${eng#*:}
    [ -n "$sock" ] || continue
    export DOCKER_HOST=unix://$sock
    docker import "$work/bb.tar" berth-bench:bb >/dev/null
    docker run --name biglog --network none --log-opt max-size=30m --log-opt max-file=3 \
        berth-bench:bb sh -c 'i=0; while [ $i -lt 400000 ]; do
            echo "line $i the quick brown fox jumps over the lazy dog 0123456789 abcdefghij"
            i=$((i+1)); done' >/dev/null
    cmds+=(-n "$name (all)" "DOCKER_HOST=unix://$sock docker logs biglog >/dev/null"
        -n "$name (--tail 10)" "DOCKER_HOST=unix://$sock docker logs --tail 10 biglog >/dev/null"
        -n "$name (-t)" "DOCKER_HOST=unix://$sock docker logs -t biglog >/dev/null")
done
unset DOCKER_HOST
hyperfine -w 1 -r "$runs" --export-markdown "$work/result.md" "${cmds[@]}"
cat "$work/result.md"
