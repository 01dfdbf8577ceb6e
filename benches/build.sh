#!/usr/bin/env bash
# `docker build` (the stock CLI's classic builder path) of a small Dockerfile with the
# common instructions (ENV, WORKDIR, COPY of a file and a directory, two RUNs, CMD, LABEL)
# on a busybox image, against berthd and against a private dockerd, in one hyperfine run:
# once with --no-cache (every step runs: containers started and committed) and once fully
# cached. RUN containers use `--network none` on both engines.
#
# Usage: benches/build.sh   (RUNS=10; SKIP_BUILD=1 to use the existing release build)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
runs=${RUNS:-10}
# shellcheck source=benches/lib.sh
. "$here/lib.sh"
[ -n "${SKIP_BUILD:-}" ] || make -C "$here/.." -s release-bins
bench_workdir bbu
bench_busybox_tar "$work/bb.tar"
mkdir -p "$work/ctx/src/lib"
for i in $(seq 20); do head -c 4096 /dev/urandom | base64 >"$work/ctx/src/lib/f$i.txt"; done
echo 'hello' >"$work/ctx/app.conf"
cat >"$work/ctx/Dockerfile" <<'DF'
FROM berth-bench:bb
ENV APP=/srv/app MODE=bench
WORKDIR $APP
COPY app.conf /etc/app.conf
COPY src ./src/
RUN cat src/lib/*.txt | wc -c > size && mkdir -p /var/cache/app
RUN echo "mode $MODE" > /etc/motd
LABEL org.example.bench=build
CMD ["cat", "/etc/motd"]
DF
bench_berthd "$work/b"
bench_dockerd "$work/k" --bridge=none
cmds=()
for eng in "berthd:$BERTHD_SOCK" "dockerd:${DOCKERD_SOCK:-}"; do
    name=${eng%%:*} sock=${eng#*:}
    [ -n "$sock" ] || continue
    DOCKER_HOST=unix://$sock docker import "$work/bb.tar" berth-bench:bb >/dev/null
    DOCKER_HOST=unix://$sock docker build -q --network none -t bench:1 "$work/ctx" >/dev/null 2>&1
    cmds+=(-n "$name (no cache)" "DOCKER_HOST=unix://$sock docker build -q --no-cache --network none -t bench:1 $work/ctx"
        -n "$name (cached)" "DOCKER_HOST=unix://$sock docker build -q --network none -t bench:1 $work/ctx")
done
hyperfine -w 1 -r "$runs" --export-markdown "$work/result.md" "${cmds[@]}" 2> >(grep -v -e DEPRECATED -e buildx -e '^$' >&2)
cat "$work/result.md"
