#!/usr/bin/env bash
# docker save/load between berthd and dockerd (Debian docker.io), both ways, through the
# Engine API of each (the stock docker CLI against both daemons): the image ID must be the
# same on both sides, and an image dockerd made runs under berthd. Then the json-file log
# each daemon writes of the same output (every byte value, UTF-8 and broken UTF-8, a line
# longer than 16 KiB, an unfinished last line, the attrs of the labels/env log options) must
# hold the same entries byte for byte, and rotate into the same files.
# A private dockerd on its own socket/roots, no bridge, no iptables.
#
#   tests/interop/berthd-images-dockerd.sh BERTHD_SOCKET BUSYBOX_ROOTFS_TAR
# (berthd must already have bbtest:latest, as the berthd test fixture imports it.)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/interop/lib.sh
source "$here/lib.sh"

[ $# -eq 2 ] || die "usage: $0 BERTHD_SOCKET BUSYBOX_ROOTFS_TAR"
BSOCK=$1
ROOTFS_TAR=$2
command -v dockerd >/dev/null || die "dockerd not found (apt-get install docker.io)"
DOCKER_CLI=$(command -v docker)

WORK=$(mktemp -d /tmp/berth-interop-berthd.XXXXXX)
DOCKERD_PID=
note_absent /run/docker /run/docker/plugins /run/containerd /run/containerd/s
cleanup() {
    local rc=$?
    stop_pid "$DOCKERD_PID"
    unmount_under "$WORK"
    remove_if_ours
    if [ $rc -ne 0 ] && [ -f "$WORK/dockerd.log" ]; then
        log "dockerd log (tail):"
        tail -n 30 "$WORK/dockerd.log" >&2 || true
    fi
    rm -rf "$WORK"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_private_dockerd
B() { DOCKER_CONFIG=$WORK/cfg "$DOCKER_CLI" -H "unix://$BSOCK" "$@"; }
D() { DOCKER_CONFIG=$WORK/cfg "$DOCKER_CLI" -H "unix://$WORK/docker.sock" "$@"; }
for _ in $(seq 100); do D version >/dev/null 2>&1 && break; sleep 0.2; done

# 1. berthd save -> dockerd load
B tag bbtest:latest berth-interop/from-berthd:1
want=$(B image inspect -f '{{.Id}}' berth-interop/from-berthd:1)
B save berth-interop/from-berthd:1 >"$WORK/from-berthd.tar" || die "berthd save"
D load -i "$WORK/from-berthd.tar" >/dev/null || die "dockerd load of berthd's archive"
check_output "berthd save -> dockerd load keeps the image ID" "$want" \
    "$(D image inspect -f '{{.Id}}' berth-interop/from-berthd:1)"

# 2. an image dockerd made: dockerd save -> berthd load, then run it under berthd
D import -c 'CMD ["echo", "made-by-dockerd"]' "$ROOTFS_TAR" berth-interop/from-dockerd:1 >/dev/null ||
    die "dockerd import"
want=$(D image inspect -f '{{.Id}}' berth-interop/from-dockerd:1)
D save -o "$WORK/from-dockerd.tar" berth-interop/from-dockerd:1 || die "dockerd save"
B load -i "$WORK/from-dockerd.tar" >/dev/null || die "berthd load of dockerd's archive"
check_output "dockerd save -> berthd load keeps the image ID" "$want" \
    "$(B image inspect -f '{{.Id}}' berth-interop/from-dockerd:1)"
check_output "dockerd's image runs under berthd" "made-by-dockerd" \
    "$(B run --rm --network none berth-interop/from-dockerd:1)"
# 3. The json-file log: the same output logged by both daemons gives the same entries, byte
#    for byte in their "log" and "stream" (the times differ; the two streams are compared
#    each on its own, as each daemon copies them independently).
every_byte=""
for i in $(seq 0 255); do every_byte+="\\$(printf %03o "$i")"; done
# shellcheck disable=SC2016
payload='printf "plain text\n"
printf "quote \" back \\\\ tab \t cr \r lt < gt > amp & del \177\n"
printf "utf-8: \303\251 \342\234\223 \360\237\230\200, separators \342\200\250 \342\200\251\n"
printf "broken: \377 \342\200 \300\200 \355\240\200 \364\220\200\200 \360\237\n"
printf "$1"; echo
printf "to stderr \033[1m bold\n" >&2
head -c 40000 /dev/zero | tr "\000" y; echo
printf "no newline at the end"'
# Each entry as "STREAM<tab>LINE", the line with its time left out.
raw_entries() {
    python3 - "$1" <<'PY'
import re, sys
for line in open(sys.argv[1], "rb"):
    i = line.index(b'","stream":"')
    j = line.index(b'"', i + 12)
    rest = re.sub(rb'"time":"[^"]*"', b'"time":""', line)
    sys.stdout.write(line[i + 12:j].decode() + "\t" + rest.decode())
PY
}
for d in B D; do
    # With the attributes the log options add to every entry (labels and variables by name
    # and by regex, and the tag).
    $d run --name berth-interop-logs --network none --label team=core\<\"tab\"\> \
        --label other=x --label more=y -e APP=v1 -e APX=v2 -e BPX=v3 --log-opt labels=team \
        --log-opt labels-regex='^oth' --log-opt env=APP,NOPE --log-opt env-regex='^APX' \
        --log-opt tag='{{.Name}}/{{ .ImageName }}' \
        berth-interop/from-dockerd:1 \
        sh -c "$payload" sh "$every_byte" >/dev/null 2>&1 || die "$d: the log container failed"
    raw_entries "$($d inspect -f '{{.LogPath}}' berth-interop-logs)" >"$WORK/entries.$d" ||
        die "$d: cannot read the json-file log"
    $d rm berth-interop-logs >/dev/null
done
n=$(wc -l <"$WORK/entries.D")
[ "$n" -ge 10 ] || die "dockerd logged only $n entries"
for s in stdout stderr; do
    if ! diff <(grep "^$s	" "$WORK/entries.B") <(grep "^$s	" "$WORK/entries.D") >"$WORK/diff"; then
        grep '^[<>]' "$WORK/diff" | cut -c1-300 | head -n 12 >&2
        die "berthd's json-file $s entries differ from dockerd's"
    fi
done
log "json-file log: berthd wrote dockerd's $n entries byte for byte"

# 4. Rotation: the same files, each with the same entries, and with `compress` the same
#    gzipped ones. The entries are 90 bytes but for their time, whose trailing zeros are
#    dropped: 22 of them stay below max-size (2k, which is 2000 bytes for dockerd) and the
#    23rd takes a file 70 bytes past it, so a few shorter times cannot move a rotation.
gunzip_entries() { python3 -c 'import gzip, sys; sys.stdout.write(gzip.open(sys.argv[1], "rt").read())' "$1"; }
for compress in false true; do
    for d in B D; do
        $d run --name berth-interop-rot --network none --log-opt max-size=2k --log-opt max-file=3 \
            --log-opt compress=$compress berth-interop/from-dockerd:1 \
            sh -c 'i=0; while [ $i -lt 300 ]; do printf "line %04d xxxxxxxxx\n" $i; i=$((i+1)); done' \
            >/dev/null || die "$d: the rotation container failed"
        lp=$($d inspect -f '{{.LogPath}}' berth-interop-rot)
        # Both compress the newest rotated file in the background.
        for _ in $(seq 50); do [ "$compress" = true ] && [ -e "$lp.1" ] || break; sleep 0.1; done
        : >"$WORK/rot.$d"
        for f in "$lp.2" "$lp.2.gz" "$lp.1" "$lp.1.gz" "$lp"; do
            [ -f "$f" ] || continue
            echo "== ${f#"$lp"}" >>"$WORK/rot.$d"
            case $f in
            *.gz) gunzip_entries "$f" >"$WORK/plain" && raw_entries "$WORK/plain" >>"$WORK/rot.$d" ;;
            *) raw_entries "$f" >>"$WORK/rot.$d" ;;
            esac
        done
        $d rm berth-interop-rot >/dev/null
    done
    if ! diff "$WORK/rot.B" "$WORK/rot.D" >/dev/null; then
        # Which lines each file holds, on each side.
        for d in B D; do
            awk -v d="$d" '/^== /{if (f != "") print d, f, n, first "-" last; f=$2; n=0; first=""}
                /"line [0-9]+/{n++; match($0, /line [0-9]+/); v=substr($0, RSTART+5, RLENGTH-5);
                if (first == "") first=v; last=v}
                END{print d, f, n, first "-" last}' "$WORK/rot.$d" >&2
        done
        die "berthd's rotated json-file logs (compress=$compress) differ from dockerd's"
    fi
done
log "json-file rotation: the same files and entries as dockerd's, compressed or not"

log "all berthd image interop checks passed"
