//! Block I/O throttles (`--device-{read,write}-{bps,iops}`) reach the container's cgroup,
//! and `--gpus` fails as with a dockerd that has no GPU driver, through both CLIs.

mod common;

use common::{Daemon, IMG, stderr, stdout};

macro_rules! prereqs {
    () => {
        if !common::have_prereqs() {
            return;
        }
    };
}

/// A whole disk of the host (`/dev/NAME` and its `MAJ:MIN`), not a loop or RAM device.
fn disk() -> Option<(String, String)> {
    let mut names: Vec<String> = std::fs::read_dir("/sys/block")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("loop") && !n.starts_with("ram") && !n.starts_with("zram"))
        .collect();
    names.sort();
    names.into_iter().find_map(|n| {
        let dev = std::fs::read_to_string(format!("/sys/block/{n}/dev")).ok()?;
        let path = format!("/dev/{n}");
        std::path::Path::new(&path)
            .exists()
            .then(|| (path, dev.trim().to_owned()))
    })
}

#[test]
fn io_throttles_reach_the_cgroup_and_bad_ones_are_refused_like_docker() {
    prereqs!();
    let Some((path, dev)) = disk() else {
        eprintln!("skipping: no disk in /sys/block");
        return;
    };
    if !std::path::Path::new("/sys/fs/cgroup/blkio").exists() {
        eprintln!("skipping: needs the cgroup v1 blkio controller");
        return;
    }
    let d = Daemon::start();
    let (rbps, wbps) = (format!("{path}:1mb"), format!("{path}:2mb"));
    let (riops, wiops) = (format!("{path}:100"), format!("{path}:200"));
    let args = [
        "run",
        "--rm",
        "--network",
        "none",
        "--device-read-bps",
        &rbps,
        "--device-write-bps",
        &wbps,
        "--device-read-iops",
        &riops,
        "--device-write-iops",
        &wiops,
        IMG,
        "sh",
        "-c",
        "cd /sys/fs/cgroup/blkio && cat blkio.throttle.read_bps_device \
         blkio.throttle.write_bps_device blkio.throttle.read_iops_device \
         blkio.throttle.write_iops_device",
    ];
    let want = format!("{dev} 1048576\n{dev} 2097152\n{dev} 100\n{dev} 200\n");
    let ours = d.berth(&args);
    assert_eq!(stdout(&ours), want, "{}", stderr(&ours));
    assert_eq!(stdout(&d.docker(&args)), want);
    // What the daemon records, as docker sends it.
    for (cli, name) in [("berth", "b1"), ("docker", "d1")] {
        let a = [
            "create",
            "--name",
            name,
            "--network",
            "none",
            "--device-read-bps",
            &rbps,
            "--device-write-iops",
            &wiops,
            IMG,
            "true",
        ];
        if cli == "berth" {
            d.bok(&a)
        } else {
            d.ok(&a)
        };
    }
    let f = "{{json .HostConfig.BlkioDeviceReadBps}} {{json .HostConfig.BlkioDeviceWriteIOps}}";
    assert_eq!(d.inspect("b1", f), d.inspect("d1", f));
    // Malformed values: docker's message and exit code.
    for bad in [
        ["--device-read-bps", "vda:1mb"],
        ["--device-write-bps", "/dev/vda:x"],
        ["--device-read-iops", "/dev/vda:1.5"],
    ] {
        let a = ["run", "--rm", bad[0], bad[1], IMG, "true"];
        let (o, t) = (d.berth(&a), d.docker(&a));
        assert_eq!(o.status.code(), Some(125));
        assert_eq!(t.status.code(), Some(125));
        let first = |s: String| s.lines().next().unwrap_or("").to_owned();
        assert_eq!(
            first(stderr(&o)).trim_start_matches("berth: "),
            first(stderr(&t)),
            "{bad:?}"
        );
    }
}

#[test]
fn gpus_fail_without_a_driver_like_dockerd() {
    prereqs!();
    let d = Daemon::start();
    for gpus in ["all", "driver=nvidia,count=2"] {
        let a = [
            "run",
            "--rm",
            "--network",
            "none",
            "--gpus",
            gpus,
            IMG,
            "true",
        ];
        let (o, t) = (d.berth(&a), d.docker(&a));
        assert_eq!((o.status.code(), t.status.code()), (Some(125), Some(125)));
        let driver = if gpus == "all" { "" } else { "nvidia" };
        let msg = format!(
            "Error response from daemon: could not select device driver \"{driver}\" with capabilities: [[gpu]]"
        );
        assert!(
            stderr(&o).starts_with(&format!("berth: {msg}")),
            "{}",
            stderr(&o)
        );
        assert!(
            stderr(&t).starts_with(&format!("docker: {msg}")),
            "{}",
            stderr(&t)
        );
    }
    // The request is recorded as docker sends it.
    d.bok(&["create", "--name", "g1", "--gpus", "2", IMG, "true"]);
    d.ok(&["create", "--name", "g2", "--gpus", "2", IMG, "true"]);
    let f = "{{json .HostConfig.DeviceRequests}}";
    assert_eq!(d.inspect("g1", f), d.inspect("g2", f));
}
