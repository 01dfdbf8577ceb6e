//! The json-file log: Docker's line format, 16 KiB splitting, rotation, no line lost.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::{Value, json};

fn rotated(log: &Path, max_file: u32) -> Vec<PathBuf> {
    // Oldest first: F.<n-1> … F.1, F.
    let mut files: Vec<PathBuf> = (1..max_file)
        .rev()
        .map(|i| PathBuf::from(format!("{}.{i}", log.display())))
        .filter(|p| p.exists())
        .collect();
    files.push(log.to_path_buf());
    files
}

#[test]
fn log_lines_are_docker_json_file_entries() {
    let shim = Fixture::sh("echo a; echo b >&2; printf 'x<y>&\"z\\t\\n'; printf partial").spawn();
    shim.start();
    assert_eq!(shim.wait()["exit_code"], 0);
    let raw = std::fs::read_to_string(shim.fx.log_path()).unwrap();
    let first = raw.lines().next().unwrap();
    assert!(
        first.starts_with(r#"{"log":"a\n","stream":"stdout","time":"20"#),
        "{first}"
    );
    assert!(
        raw.contains(r#"{"log":"x\u003cy\u003e\u0026\"z\u0009\n","stream":"stdout""#),
        "{raw}"
    );
    let entries = shim.log_lines();
    assert_eq!(entries.len(), 4, "{raw}");
    assert_eq!(log_text(&entries, "stdout"), "a\nx<y>&\"z\t\npartial");
    assert_eq!(log_text(&entries, "stderr"), "b\n");
    for e in &entries {
        let t = e["time"].as_str().unwrap();
        assert!(
            t.len() >= 20 && t.ends_with('Z') && &t[4..5] == "-" && &t[10..11] == "T",
            "{t}"
        );
    }
}

#[test]
fn every_entry_carries_the_attrs_it_was_given() {
    let mut fx = Fixture::sh("echo out; echo err >&2");
    fx.flag(r#"--log-attrs {"APP":"v1","team":"core\u003c"}"#);
    let shim = fx.spawn();
    shim.start();
    assert_eq!(shim.wait()["exit_code"], 0);
    let raw = std::fs::read_to_string(shim.fx.log_path()).unwrap();
    assert_eq!(raw.lines().count(), 2, "{raw}");
    for (line, stream) in [("out", "stdout"), ("err", "stderr")] {
        let want = format!(
            r#"{{"log":"{line}\n","stream":"{stream}","attrs":{{"APP":"v1","team":"core\u003c"}},"time":"#
        );
        assert!(raw.lines().any(|l| l.starts_with(&want)), "{want}\n{raw}");
    }
    for e in shim.log_lines() {
        assert_eq!(e["attrs"]["team"], "core<");
    }
}

#[test]
fn attrs_that_are_not_a_json_object_are_refused() {
    for bad in ["[1]", "{\"a\":", "{\"a\":\n\"b\"}"] {
        let mut fx = Fixture::new(&["true"]);
        fx.flags.push("--log-attrs".into());
        fx.flags.push(bad.into());
        let err = fx.spawn_err();
        assert!(
            err.to_string().contains("not a one-line JSON object"),
            "{bad:?}: {err}"
        );
    }
}

#[test]
fn lines_longer_than_16k_are_split_into_entries() {
    let shim = Fixture::sh("head -c 40000 /dev/zero | tr '\\0' x; echo; echo next").spawn();
    shim.start();
    assert_eq!(shim.wait()["exit_code"], 0);
    let e = shim.log_lines();
    let lens: Vec<usize> = e.iter().map(|e| e["log"].as_str().unwrap().len()).collect();
    assert_eq!(lens, [16384, 16384, 40000 - 2 * 16384 + 1, 5]);
    assert!(!e[0]["log"].as_str().unwrap().ends_with('\n'));
    assert!(e[2]["log"].as_str().unwrap().ends_with("x\n"));
}

#[test]
fn a_flood_across_many_rotations_loses_no_line() {
    let mut fx = Fixture::sh("seq 1 100000; seq 1 20000 >&2");
    fx.flag("--log-max-size 100k --log-max-file 200");
    let shim = fx.spawn();
    shim.start();
    assert_eq!(shim.wait()["exit_code"], 0);
    let files = rotated(&shim.fx.log_path(), 200);
    assert!(files.len() > 50, "only {} files", files.len());
    let (mut out, mut err) = (0u64, 0u64);
    for f in &files {
        // Rotated once it reached max-size (as dockerd): at most one short entry past it.
        let size = std::fs::metadata(f).unwrap().len();
        let rotated = f != &shim.fx.log_path();
        assert!(
            size < 100_000 + 100 && (!rotated || size >= 100_000),
            "{} is {size} bytes",
            f.display()
        );
        for e in read_log(f) {
            let n: u64 = e["log"].as_str().unwrap().trim_end().parse().unwrap();
            let counter = if e["stream"] == "stdout" {
                &mut out
            } else {
                &mut err
            };
            *counter += 1;
            assert_eq!(n, *counter, "line out of order or lost in {}", f.display());
            assert!(e["log"].as_str().unwrap().ends_with('\n'));
        }
    }
    assert_eq!((out, err), (100000, 20000));
}

#[test]
fn rotation_keeps_max_file_files_and_drops_the_oldest() {
    let mut fx = Fixture::new(&["seq", "1", "20000"]);
    fx.flag("--log-max-size 50k --log-max-file 3");
    let shim = fx.spawn();
    shim.start();
    assert_eq!(shim.wait()["exit_code"], 0);
    let log = shim.fx.log_path();
    let files = rotated(&log, 10);
    assert_eq!(files.len(), 3, "{files:?}");
    let numbers: Vec<u64> = files
        .iter()
        .flat_map(|f| read_log(f))
        .map(|e| e["log"].as_str().unwrap().trim_end().parse().unwrap())
        .collect();
    // The newest lines, contiguous, ending with the last one.
    assert_eq!(*numbers.last().unwrap(), 20000);
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1));
    assert!(numbers.len() < 20000);
}

#[test]
fn rotated_files_are_gzipped_with_compress_and_keep_every_line() {
    let mut fx = Fixture::sh("i=0; while [ $i -lt 3000 ]; do echo line $i; i=$((i+1)); done");
    fx.flag("--log-max-size 10k --log-max-file 4 --log-compress");
    let shim = fx.spawn();
    shim.start();
    assert_eq!(shim.wait()["exit_code"], 0);
    let log = shim.fx.log_path();
    let p = |s: &str| PathBuf::from(format!("{}{s}", log.display()));
    // The newest rotated file is compressed in the background.
    assert!(eventually(std::time::Duration::from_secs(10), || {
        p(".1.gz").exists() && !p(".1").exists()
    }));
    assert!(p(".3.gz").exists() && !p(".4.gz").exists() && !p(".2").exists());
    let mut numbers: Vec<u64> = Vec::new();
    let mut take = |text: &str| {
        for l in text.lines() {
            let v: Value = serde_json::from_str(l).unwrap();
            let n = v["log"].as_str().unwrap().trim_end();
            numbers.push(n.strip_prefix("line ").unwrap().parse().unwrap());
        }
    };
    for f in [".3.gz", ".2.gz", ".1.gz"] {
        let mut gz = flate2::read::GzDecoder::new(std::fs::File::open(p(f)).unwrap());
        // The identity of the file it was (dev:ino), for berthd's follower.
        let name = gz.header().and_then(|h| h.filename()).unwrap_or_default();
        assert!(std::str::from_utf8(name).unwrap().contains(':'), "{name:?}");
        let mut text = String::new();
        std::io::Read::read_to_string(&mut gz, &mut text).unwrap();
        take(&text);
    }
    take(&std::fs::read_to_string(&log).unwrap());
    let first = numbers[0];
    assert!(first > 0, "everything kept: nothing rotated away");
    assert_eq!(numbers, (first..3000).collect::<Vec<_>>());
}

#[test]
fn log_driver_none_writes_nothing() {
    let mut fx = Fixture::new(&["echo", "hello"]);
    fx.flag("--log-driver none");
    let shim = fx.spawn();
    let mut a = shim.attach(json!({"op": "attach", "stdout": true}));
    shim.start();
    assert_eq!(read_frames(&mut a).0, b"hello\n");
    assert_eq!(shim.wait()["exit_code"], 0);
    assert!(!shim.fx.log_path().exists());
}

#[test]
fn attached_client_and_log_both_get_every_byte_of_a_flood() {
    let shim = Fixture::sh("seq 1 50000").spawn();
    let mut a = shim.attach(json!({"op": "attach", "stdout": true, "stderr": true}));
    shim.start();
    // Read slowly at first so the shim has to queue and throttle.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (out, _) = read_frames(&mut a);
    let expect: String = (1..=50000).map(|i| format!("{i}\n")).collect();
    assert!(
        out == expect.as_bytes(),
        "attach stream differs ({} bytes)",
        out.len()
    );
    assert_eq!(log_text(&shim.log_lines(), "stdout"), expect);
    let _: Value = shim.wait();
}
