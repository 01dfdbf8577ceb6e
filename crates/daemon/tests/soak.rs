//! Load: many docker CLI clients at once against one berthd, as CI jobs and compose do.
//! Every run must succeed with its own output, and nothing may be left behind: no
//! container, veth, rule, lease, netns file, overlay mount or cgroup. (New runtimes show
//! their rough edges as a few percent of errors under load, not in one-at-a-time tests.)

mod common;

use common::net::*;
use common::*;

/// The overlay mounts under this daemon's data root.
fn overlays(d: &Daemon) -> usize {
    let root = d.data.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.split(' ').nth(4).is_some_and(|m| m.starts_with(&root)))
        .count()
}

/// This daemon's containers' cgroups left in the v1 `memory` hierarchy (`berth/<id>`).
fn cgroups(ids: &[String]) -> Vec<String> {
    ids.iter()
        .filter(|id| {
            std::path::Path::new("/sys/fs/cgroup/memory/berth")
                .join(id)
                .exists()
        })
        .cloned()
        .collect()
}

#[test]
fn many_clients_at_once_all_succeed_and_leave_nothing_behind() {
    if !have_prereqs() {
        return;
    }
    let d = Daemon::start();
    let net = net_name("soak");
    let _g = Nets(&d, vec![net.clone()]);
    d.ok(&["network", "create", "--subnet", &subnet(21), &net]);
    let before = snapshot(&d);
    let mounts_before = overlays(&d);
    const CLIENTS: usize = 6;
    const RUNS: usize = 8;
    let (failures, started): (Vec<String>, Vec<String>) = std::thread::scope(|s| {
        let d = &d;
        let net = &net;
        let handles: Vec<_> = (0..CLIENTS)
            .map(|c| {
                s.spawn(move || {
                    let (mut bad, mut ids) = (Vec::new(), Vec::new());
                    for r in 0..RUNS {
                        // Alternate the default bridge, a user network and none; a --rm
                        // run, and a detached one stopped and removed by name.
                        let mode = ["bridge", net.as_str(), "none"][(c + r) % 3];
                        let tag = format!("{c}-{r}");
                        let out = d.docker(&["run", "--rm", "--network", mode, IMG, "echo", &tag]);
                        if !out.status.success() || stdout(&out).trim() != tag {
                            bad.push(format!("run {tag} on {mode}: {}", stderr(&out)));
                        }
                        let name = format!("soak-{tag}");
                        let out = d.docker(&[
                            "run",
                            "-d",
                            "--name",
                            &name,
                            "--network",
                            mode,
                            IMG,
                            "sleep",
                            "60",
                        ]);
                        if !out.status.success() {
                            bad.push(format!("run -d {name}: {}", stderr(&out)));
                            continue;
                        }
                        ids.push(stdout(&out).trim().to_owned());
                        let out = d.docker(&["rm", "-f", &name]);
                        if !out.status.success() {
                            bad.push(format!("rm -f {name}: {}", stderr(&out)));
                        }
                    }
                    (bad, ids)
                })
            })
            .collect();
        let (mut bad, mut ids) = (Vec::new(), Vec::new());
        for h in handles {
            let (b, i) = h.join().unwrap();
            bad.extend(b);
            ids.extend(i);
        }
        (bad, ids)
    });
    assert!(
        failures.is_empty(),
        "{} of {} operations failed:\n{}",
        failures.len(),
        CLIENTS * RUNS * 3,
        failures.join("\n")
    );
    assert_eq!(d.ok(&["ps", "-aq"]), "");
    assert_back_to(&d, &before, 20);
    assert!(
        d.eventually(20, || overlays(&d) == mounts_before),
        "overlay mounts left: {} (before {mounts_before})",
        overlays(&d)
    );
    let ids: Vec<String> = std::fs::read_dir(d.data.join("containers"))
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(ids.is_empty(), "container dirs left: {ids:?}");
    // The cgroups of the detached containers are gone.
    assert!(!started.is_empty(), "no start found in the log");
    assert!(
        d.eventually(10, || cgroups(&started).is_empty()),
        "cgroups left: {:?}",
        cgroups(&started)
    );
}
