//! Freezing and thawing. Both interfaces are asynchronous in the kernel: writing the
//! request returns before every task has stopped, so we poll until the state is reached.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::{Error, fsutil};

/// How long one freeze attempt may take. Generous because a loaded host (or an emulated
/// test VM) can take a while to stop tasks stuck in uninterruptible sleep.
const ATTEMPT: Duration = Duration::from_secs(2);
/// Attempts before giving up on v1, where a task stuck in FREEZING is sometimes unstuck by
/// thawing and freezing again.
const V1_ATTEMPTS: u32 = 5;

pub(crate) fn freeze_v1(dir: &Path) -> Result<(), Error> {
    let state = dir.join("freezer.state");
    for attempt in 0..V1_ATTEMPTS {
        fsutil::write(&state, "FROZEN")?;
        if poll(ATTEMPT, || Ok(fsutil::read(&state)?.trim() == "FROZEN"))? {
            tracing::debug!(dir = %dir.display(), attempt, "cgroup frozen");
            return Ok(());
        }
        tracing::debug!(dir = %dir.display(), attempt, "still FREEZING, thawing to retry");
        fsutil::write(&state, "THAWED")?;
        std::thread::sleep(Duration::from_millis(10));
    }
    Err(Error::Timeout {
        what: "freezer.state FROZEN".into(),
        path: state,
    })
}

pub(crate) fn thaw_v1(dir: &Path) -> Result<(), Error> {
    let state = dir.join("freezer.state");
    fsutil::write(&state, "THAWED")?;
    if poll(ATTEMPT * 2, || Ok(fsutil::read(&state)?.trim() == "THAWED"))? {
        Ok(())
    } else {
        Err(Error::Timeout {
            what: "freezer.state THAWED".into(),
            path: state,
        })
    }
}

pub(crate) fn is_frozen_v1(dir: &Path) -> Result<bool, Error> {
    Ok(fsutil::read(&dir.join("freezer.state"))?.trim() == "FROZEN")
}

pub(crate) fn freeze_v2(dir: &Path) -> Result<(), Error> {
    set_v2(dir, "1", true)
}

pub(crate) fn thaw_v2(dir: &Path) -> Result<(), Error> {
    set_v2(dir, "0", false)
}

pub(crate) fn is_frozen_v2(dir: &Path) -> Result<bool, Error> {
    frozen_event(dir)
}

fn set_v2(dir: &Path, value: &str, want: bool) -> Result<(), Error> {
    let f = dir.join("cgroup.freeze");
    if !f.exists() && dir.exists() {
        return Err(Error::Unsupported {
            what: "freezing".into(),
            reason: format!("{} does not exist (kernel older than 5.2?)", f.display()),
        });
    }
    fsutil::write(&f, value)?;
    if poll(ATTEMPT * V1_ATTEMPTS, || Ok(frozen_event(dir)? == want))? {
        tracing::debug!(dir = %dir.display(), frozen = want, "cgroup freeze state reached");
        Ok(())
    } else {
        Err(Error::Timeout {
            what: format!("cgroup.events frozen {}", u8::from(want)),
            path: dir.join("cgroup.events"),
        })
    }
}

/// `frozen` from `cgroup.events` (the effective state, unlike `cgroup.freeze`, which is
/// only the request).
fn frozen_event(dir: &Path) -> Result<bool, Error> {
    let p = dir.join("cgroup.events");
    let s = fsutil::read(&p)?;
    Ok(parse_events(&s)
        .iter()
        .any(|(k, v)| *k == "frozen" && *v == 1))
}

pub(crate) fn parse_events(s: &str) -> Vec<(&str, u64)> {
    fsutil::parse_flat_keyed(s)
}

/// Calls `done` with a growing backoff until it says true or `limit` passes.
fn poll(limit: Duration, mut done: impl FnMut() -> Result<bool, Error>) -> Result<bool, Error> {
    let deadline = Instant::now() + limit;
    let mut wait = Duration::from_millis(1);
    loop {
        if done()? {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(wait);
        wait = (wait * 2).min(Duration::from_millis(50));
    }
}
