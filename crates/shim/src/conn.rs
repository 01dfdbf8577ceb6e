//! One client connection on `shim.sock`: a request line, then a response, a parked answer
//! (`wait`, `exec_wait`) or an attach stream.

use std::os::fd::{AsFd, OwnedFd};
use std::time::Instant;

use crate::sys;

/// Whose stdio an attach or a wait refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Main,
    Exec(u64),
}

#[derive(Debug)]
pub struct Attach {
    pub target: Target,
    pub stdin: bool,
    /// stdout, stderr
    pub streams: [bool; 2],
}

#[derive(Debug)]
pub enum Role {
    /// Reading the request line.
    Request,
    /// Answered; closes once the answer is sent.
    Respond,
    /// Parked until the container (or an exec) has exited.
    Wait(Target),
    Attached(Attach),
}

pub struct Client {
    pub fd: OwnedFd,
    pub role: Role,
    /// The request line being read.
    pub inbuf: Vec<u8>,
    /// Bytes not yet taken by the socket, from `out_pos`.
    out: Vec<u8>,
    out_pos: usize,
    /// The peer shut down its writing half (or we stopped reading it).
    pub read_eof: bool,
    /// Drop the connection once `out` is sent, or at this time at the latest.
    pub closing: Option<Instant>,
    pub dead: bool,
    /// A descriptor that came with the request (an attach handoff).
    pub passed: Option<OwnedFd>,
    /// A client's own connection handed over by berthd: at the end its write half is shut
    /// down and the shim waits for the client to close (closing a socket with unread
    /// input would reset it).
    pub direct: bool,
    shut: bool,
}

/// How long a closing connection may take to accept its last bytes.
const CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

impl Client {
    pub fn new(fd: OwnedFd) -> Client {
        Client {
            fd,
            role: Role::Request,
            inbuf: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            read_eof: false,
            closing: None,
            dead: false,
            passed: None,
            direct: false,
            shut: false,
        }
    }

    pub fn pending(&self) -> usize {
        self.out.len() - self.out_pos
    }

    /// Sends `a` + `b`, queueing what the socket does not take now.
    pub fn send(&mut self, a: &[u8], b: &[u8]) {
        if self.dead {
            return;
        }
        if self.pending() > 0 {
            self.out.extend_from_slice(a);
            self.out.extend_from_slice(b);
            return;
        }
        match sys::send(self.fd.as_fd(), a, b) {
            Ok(n) if n >= a.len() => self.out.extend_from_slice(&b[n - a.len()..]),
            Ok(n) => {
                self.out.extend_from_slice(&a[n..]);
                self.out.extend_from_slice(b);
            }
            Err(_) => self.dead = true,
        }
    }

    /// An attach frame: `[stream, 0, 0, 0, len BE]` then the bytes.
    pub fn frame(&mut self, stream: u8, data: &[u8]) {
        let n = (data.len() as u32).to_be_bytes();
        self.send(&[stream, 0, 0, 0, n[0], n[1], n[2], n[3]], data);
    }

    /// Sends queued bytes (the socket became writable).
    pub fn flush(&mut self) {
        if self.pending() == 0 || self.dead {
            return;
        }
        match sys::send(self.fd.as_fd(), &self.out[self.out_pos..], &[]) {
            Ok(n) => self.out_pos += n,
            Err(_) => self.dead = true,
        }
        if self.out_pos == self.out.len() {
            self.out = Vec::new();
            self.out_pos = 0;
        } else if self.out_pos > 64 * 1024 && self.out_pos * 2 > self.out.len() {
            self.out.drain(..self.out_pos);
            self.out_pos = 0;
        }
        self.half_close();
    }

    /// A direct client that is closing and has everything: end of stream for it.
    fn half_close(&mut self) {
        if self.direct && !self.shut && self.closing.is_some() && self.pending() == 0 {
            let _ = rustix::net::shutdown(&self.fd, rustix::net::Shutdown::Write);
            self.shut = true;
        }
    }

    /// Answers and closes (after the answer is sent).
    pub fn respond(&mut self, line: &[u8]) {
        self.role = Role::Respond;
        self.send(line, &[]);
        self.close_after_flush();
    }

    pub fn close_after_flush(&mut self) {
        if self.closing.is_none() {
            self.closing = Some(Instant::now() + CLOSE_GRACE);
        }
        self.half_close();
    }

    /// Done: dead, or closing with nothing left to send (or out of time).
    pub fn finished(&self, now: Instant) -> bool {
        self.dead
            || self.closing.is_some_and(|t| {
                now >= t || (self.pending() == 0 && (!self.direct || self.read_eof))
            })
    }

    pub fn attached_to(&self, t: Target) -> Option<&Attach> {
        match &self.role {
            Role::Attached(a) if a.target == t && self.closing.is_none() => Some(a),
            _ => None,
        }
    }
}
