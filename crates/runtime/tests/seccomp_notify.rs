//! seccomp user notification: the listener fd reaches `linux.seccomp.listenerPath` together
//! with the container process state, as runc sends it.

mod common;
use common::Bundle;
use std::io::IoSliceMut;
use std::os::unix::net::UnixListener;

#[test]
fn notify_listener_is_sent_to_listener_path() {
    let mut b = Bundle::new();
    let sock = b.path().join("listener.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    b.config["linux"]["seccomp"] = serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": sock,
        "listenerMetadata": "hello-agent",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
    });
    b.sh("mkdir /tmp/x 2>/dev/null; echo rc=$?");
    let agent = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; 65536];
        let mut iov = [IoSliceMut::new(&mut buf)];
        let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut anc = rustix::net::RecvAncillaryBuffer::new(&mut space);
        let r = rustix::net::recvmsg(
            &conn,
            &mut iov,
            &mut anc,
            rustix::net::RecvFlags::CMSG_CLOEXEC,
        )
        .unwrap();
        let mut fd = None;
        for m in anc.drain() {
            if let rustix::net::RecvAncillaryMessage::ScmRights(mut fds) = m {
                fd = fds.next();
            }
        }
        let n = r.bytes;
        let state: serde_json::Value = serde_json::from_slice(&buf[..n]).unwrap();
        // Dropping the listener makes the trapped syscalls fail instead of hanging.
        drop(fd.expect("listener fd sent"));
        state
    });
    let (code, out, err) = b.run_out();
    let state = agent.join().unwrap();
    assert_eq!(code, 0, "{err}");
    assert_eq!(state["fds"], serde_json::json!(["seccompFd"]));
    assert_eq!(state["metadata"], "hello-agent");
    assert!(state["pid"].as_i64().unwrap() > 0);
    assert!(
        out.contains("rc=") && !out.contains("rc=0"),
        "mkdir must fail once the agent is gone: {out}"
    );
    assert!(!b.rootfs().join("tmp/x").exists());
}
