//! The channel between the runtime (parent) and the container's init (child) while the
//! container is set up: a `SOCK_SEQPACKET` socket pair, one small message per step, so each
//! side knows exactly where the other is and an init error reaches the caller as text.

use std::io::IoSliceMut;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
};

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    /// child → parent: namespaces exist; parent may write id maps and join the cgroup.
    NsReady,
    /// parent → child: id maps, cgroup and oom_score_adj are in place.
    Go,
    /// child → parent: run prestart and createRuntime hooks now.
    RunHooks,
    /// parent → child: hooks done and the cgroup joined (for `exec`: joined, go ahead and exec).
    HooksDone,
    /// child → parent: setup done; the init now waits for `start`.
    Ready,
    /// child → parent: the pid of the real init (when an intermediate process was needed).
    Pid(i32),
    /// either way: setup failed.
    Error(String),
    /// child → parent: the console master rides along as SCM_RIGHTS.
    Console,
    /// child → parent: the seccomp user-notification listener rides along as SCM_RIGHTS.
    SeccompListener,
    /// parent → child: the container's cgroup directories exist (the cgroup mount may bind
    /// them now). Made while the child mounts the rest.
    CgroupReady,
}

impl Msg {
    fn encode(&self) -> Vec<u8> {
        let (tag, body): (u8, Vec<u8>) = match self {
            Msg::NsReady => (1, vec![]),
            Msg::Go => (2, vec![]),
            Msg::RunHooks => (3, vec![]),
            Msg::HooksDone => (4, vec![]),
            Msg::Ready => (5, vec![]),
            Msg::Pid(p) => (6, p.to_le_bytes().to_vec()),
            Msg::Error(s) => (7, s.as_bytes().to_vec()),
            Msg::Console => (8, vec![]),
            Msg::SeccompListener => (9, vec![]),
            Msg::CgroupReady => (10, vec![]),
        };
        let mut v = Vec::with_capacity(1 + body.len());
        v.push(tag);
        v.extend_from_slice(&body);
        v
    }

    fn decode(b: &[u8]) -> Result<Msg> {
        let bad = || Error::Init(format!("bad sync message {b:?}"));
        let (&tag, body) = b.split_first().ok_or_else(bad)?;
        Ok(match tag {
            1 => Msg::NsReady,
            2 => Msg::Go,
            3 => Msg::RunHooks,
            4 => Msg::HooksDone,
            5 => Msg::Ready,
            6 => Msg::Pid(i32::from_le_bytes(body.try_into().map_err(|_| bad())?)),
            7 => Msg::Error(String::from_utf8_lossy(body).into_owned()),
            8 => Msg::Console,
            9 => Msg::SeccompListener,
            10 => Msg::CgroupReady,
            _ => return Err(bad()),
        })
    }
}

pub struct Channel {
    fd: OwnedFd,
}

/// A connected pair; both ends are close-on-exec so neither leaks into the container.
pub fn pair() -> Result<(Channel, Channel)> {
    let (a, b) = rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| Error::sys("socketpair", e))?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    pub fn send(&self, m: &Msg) -> Result<()> {
        rustix::net::send(&self.fd, &m.encode(), SendFlags::NOSIGNAL)
            .map_err(|e| Error::sys("sync send", e))?;
        Ok(())
    }

    /// Blocks for the next message; the peer closing its end is an error (it died).
    pub fn recv(&self) -> Result<Msg> {
        let mut buf = [0u8; 8192];
        let mut reset = false;
        loop {
            match rustix::net::recv(&self.fd, &mut buf, RecvFlags::empty()) {
                Ok((0, _)) => return Err(Error::Init("container init exited during setup".into())),
                Ok((n, _)) => return Msg::decode(&buf[..n]),
                Err(rustix::io::Errno::INTR) => continue,
                // The peer exited leaving our message unread: the kernel reports that first
                // (once), but what it sent before exiting (its error) is still queued.
                Err(rustix::io::Errno::CONNRESET) if !reset => reset = true,
                Err(e) => return Err(Error::sys("sync recv", e)),
            }
        }
    }

    /// Receives a message that may carry a descriptor (the console master).
    pub fn recv_with_fd(&self) -> Result<(Msg, Option<OwnedFd>)> {
        let mut buf = [0u8; 8192];
        let mut reset = false;
        loop {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
            let mut anc = RecvAncillaryBuffer::new(&mut space);
            let n =
                match rustix::net::recvmsg(&self.fd, &mut iov, &mut anc, RecvFlags::CMSG_CLOEXEC) {
                    Ok(r) => r.bytes,
                    Err(rustix::io::Errno::INTR) => continue,
                    // As in `recv`: the reset is reported once, the peer's last words stay.
                    Err(rustix::io::Errno::CONNRESET) if !reset => {
                        reset = true;
                        continue;
                    }
                    Err(e) => return Err(Error::sys("sync recv", e)),
                };
            let mut fd = None;
            for msg in anc.drain() {
                if let RecvAncillaryMessage::ScmRights(mut fds) = msg {
                    fd = fds.next();
                }
            }
            if n == 0 {
                return Err(Error::Init("container init exited during setup".into()));
            }
            return Ok((Msg::decode(&buf[..n])?, fd));
        }
    }

    /// Sends a message with a descriptor attached.
    pub fn send_with_fd(&self, m: &Msg, fd: BorrowedFd<'_>) -> Result<()> {
        send_fd(self.fd.as_fd(), fd, &m.encode())
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Sends one fd with SCM_RIGHTS over a unix socket, with `payload` as data (runc's console
/// socket protocol sends the pty master this way, the data being a name).
pub fn send_fd(sock: BorrowedFd<'_>, fd: BorrowedFd<'_>, payload: &[u8]) -> Result<()> {
    let fds = [fd];
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut anc = SendAncillaryBuffer::new(&mut space);
    anc.push(SendAncillaryMessage::ScmRights(&fds));
    let iov = [std::io::IoSlice::new(payload)];
    rustix::net::sendmsg(sock, &iov, &mut anc, SendFlags::NOSIGNAL)
        .map_err(|e| Error::sys("sendmsg SCM_RIGHTS", e))?;
    Ok(())
}

/// Receives one fd sent with [`send_fd`].
pub fn recv_fd(sock: BorrowedFd<'_>) -> Result<OwnedFd> {
    let mut buf = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut anc = RecvAncillaryBuffer::new(&mut space);
    rustix::net::recvmsg(sock, &mut iov, &mut anc, RecvFlags::CMSG_CLOEXEC)
        .map_err(|e| Error::sys("recvmsg SCM_RIGHTS", e))?;
    for msg in anc.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = msg
            && let Some(fd) = fds.next()
        {
            return Ok(fd);
        }
    }
    Err(Error::Other("no file descriptor received".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let (a, b) = pair().unwrap();
        for m in [
            Msg::NsReady,
            Msg::Go,
            Msg::Pid(42),
            Msg::Error("boom".into()),
            Msg::Ready,
        ] {
            a.send(&m).unwrap();
            assert_eq!(b.recv().unwrap(), m);
        }
        drop(a);
        assert!(b.recv().is_err());
    }

    #[test]
    fn last_words_of_a_peer_that_left_with_unread_messages_arrive() {
        let (parent, child) = pair().unwrap();
        parent.send(&Msg::CgroupReady).unwrap(); // never read by the child
        child.send(&Msg::Error("boom".into())).unwrap();
        drop(child);
        assert_eq!(parent.recv().unwrap(), Msg::Error("boom".into()));
        assert!(parent.recv().is_err());
    }

    #[test]
    fn fds_pass_over_the_socket() {
        let (a, b) = pair().unwrap();
        let (r, w) = rustix::pipe::pipe().unwrap();
        send_fd(a.fd(), w.as_fd(), b"x").unwrap();
        let w2 = recv_fd(b.fd()).unwrap();
        rustix::io::write(&w2, b"hi").unwrap();
        let mut buf = [0u8; 2];
        rustix::io::read(&r, &mut buf).unwrap();
        assert_eq!(&buf, b"hi");
    }
}
