use crate::BlkioEntry;
use crate::parse::{parse_blkio_v1, parse_io_stat, parse_percpu};

#[test]
fn io_stat_lines_become_entries_per_counter() {
    let s = "8:0 rbytes=90430464 wbytes=299008000 rios=8950 wios=1252 dbytes=50331648 dios=3021\n253:1 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0 cost.usage=5\n";
    let e = parse_io_stat(s);
    assert_eq!(e.len(), 12);
    assert_eq!(
        e[0],
        BlkioEntry {
            major: 8,
            minor: 0,
            op: "rbytes".into(),
            value: 90_430_464
        }
    );
    assert_eq!(
        e[11],
        BlkioEntry {
            major: 253,
            minor: 1,
            op: "dios".into(),
            value: 0
        }
    );
}

#[test]
fn malformed_stats_lines_are_skipped() {
    assert!(parse_io_stat("garbage\n8:x rbytes=1\n\n").is_empty());
    assert!(parse_blkio_v1("Total 5\n8:0 Read\nx:y Read 1\n8:0 Read many\n", true).is_empty());
    assert_eq!(parse_percpu("1 2 x 3\n"), [1, 2, 3]);
    assert!(parse_percpu("").is_empty());
}

#[test]
fn v1_blkio_ops_use_v2_names() {
    let e = parse_blkio_v1("8:16 Read 10\n8:16 Write 20\n8:16 Total 30\n", false);
    let ops: Vec<&str> = e.iter().map(|e| e.op.as_str()).collect();
    assert_eq!(ops, ["rios", "wios"]);
}

/// The API layer serializes these; a compile-time check keeps the derive in place without
/// pulling a JSON crate into this one.
#[test]
fn stats_types_are_serializable() {
    fn serializable<T: serde::Serialize + Default + Clone + std::fmt::Debug>() {}
    serializable::<crate::Stats>();
    serializable::<crate::MemoryStats>();
    serializable::<crate::CpuStats>();
    serializable::<crate::PidsStats>();
    serializable::<crate::BlkioStats>();
    serializable::<crate::BlkioEntry>();
}
