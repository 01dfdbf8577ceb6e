//! A process's stdio as the shim holds it: the read ends of its stdout and stderr pipes (or
//! the pty master), and the write end of its stdin pipe.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::OFlags;

use crate::error::{Error, Result};
use crate::sys;

#[derive(Default)]
pub struct Io {
    /// stdout, stderr (with a tty: the master, then None).
    pub out: [Option<OwnedFd>; 2],
    pub stdin: Option<OwnedFd>,
    /// stdin bytes the pipe has not taken yet.
    pub stdin_pending: Vec<u8>,
    /// Close stdin once `stdin_pending` is written.
    pub stdin_close: bool,
    /// The stdin pipe took no more spliced bytes: wait until it is writable.
    pub stdin_full: bool,
    /// splice(2) refused these descriptors: copy instead.
    no_splice: bool,
    /// The pty master, for resizes.
    pub master: Option<OwnedFd>,
}

/// What [`Io::splice_stdin`] did.
pub enum Spliced {
    /// This many bytes went into the pipe (0: the pipe is full, wait for it).
    Moved(usize),
    /// The client ended its input.
    End,
    /// Not possible here (no stdin, bytes queued before, or splice refused): read the input
    /// and hand it to [`Io::write_stdin`].
    Copy,
    /// The client's connection failed.
    Failed,
}

/// The container's ends, installed as its 0, 1, 2 (the shim closes its copies after the
/// process exists, so end of file is seen when the process closes them).
pub type ChildEnds = [OwnedFd; 3];

impl Io {
    /// Pipes for a process without a terminal; stdin is /dev/null unless `stdin`.
    pub fn pipes(stdin: bool) -> Result<(Io, ChildEnds)> {
        let (in_r, in_w) = if stdin {
            let (r, w) = sys::pipe()?;
            sys::set_nonblock(w.as_fd())?;
            (r, Some(w))
        } else {
            (sys::dev_null(OFlags::RDONLY)?, None)
        };
        let (out_r, out_w) = sys::pipe()?;
        let (err_r, err_w) = sys::pipe()?;
        sys::set_nonblock(out_r.as_fd())?;
        sys::set_nonblock(err_r.as_fd())?;
        let io = Io {
            out: [Some(out_r), Some(err_r)],
            stdin: in_w,
            ..Io::default()
        };
        Ok((io, [in_r, out_w, err_w]))
    }

    /// A process with a terminal: everything goes through the master.
    pub fn pty(master: OwnedFd, stdin: bool) -> Result<Io> {
        sys::set_nonblock(master.as_fd())?;
        let dup = |fd: &OwnedFd| {
            rustix::io::fcntl_dupfd_cloexec(fd, 3).map_err(|e| Error::sys("dup pty master", e))
        };
        let stdin = if stdin { Some(dup(&master)?) } else { None };
        Ok(Io {
            out: [Some(dup(&master)?), None],
            stdin,
            master: Some(master),
            ..Io::default()
        })
    }

    pub fn outputs_open(&self) -> bool {
        self.out.iter().any(Option::is_some)
    }

    /// Writes stdin bytes, keeping what the pipe does not take now.
    pub fn write_stdin(&mut self, data: &[u8]) {
        let Some(fd) = &self.stdin else { return };
        if !self.stdin_pending.is_empty() {
            self.stdin_pending.extend_from_slice(data);
            return;
        }
        match sys::write(fd.as_fd(), data) {
            Ok(n) => self.stdin_pending.extend_from_slice(&data[n..]),
            Err(_) => self.drop_stdin(),
        }
    }

    /// Whether stdin input must wait for the pipe to take what it already has.
    pub fn stdin_busy(&self) -> bool {
        self.stdin.is_some() && (self.stdin_full || !self.stdin_pending.is_empty())
    }

    /// Moves a client's input straight from its socket into the stdin pipe, with no copy
    /// through the shim.
    pub fn splice_stdin(&mut self, from: BorrowedFd<'_>, len: usize) -> Spliced {
        let Some(fd) = &self.stdin else {
            return Spliced::Copy;
        };
        if self.no_splice || !self.stdin_pending.is_empty() {
            return Spliced::Copy;
        }
        match sys::splice_into_pipe(from, fd.as_fd(), len) {
            Ok(Some(0)) => Spliced::End,
            Ok(Some(n)) => Spliced::Moved(n),
            Ok(None) => {
                // The socket had input (poll said so): the pipe is full.
                self.stdin_full = true;
                Spliced::Moved(0)
            }
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                self.no_splice = true;
                Spliced::Copy
            }
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => {
                // Nobody reads the container's stdin any more: the input is discarded.
                self.drop_stdin();
                Spliced::Copy
            }
            Err(_) => Spliced::Failed,
        }
    }

    /// The stdin pipe became writable.
    pub fn flush_stdin(&mut self) {
        self.stdin_full = false;
        if let Some(fd) = &self.stdin
            && !self.stdin_pending.is_empty()
        {
            match sys::write(fd.as_fd(), &self.stdin_pending) {
                Ok(n) => {
                    self.stdin_pending.drain(..n);
                }
                Err(_) => self.drop_stdin(),
            }
        }
        if self.stdin_pending.is_empty() {
            self.stdin_pending = Vec::new();
            if self.stdin_close {
                self.stdin = None;
            }
        }
    }

    /// End of input: the process sees end of file once the pending bytes are in.
    pub fn close_stdin(&mut self) {
        self.stdin_close = true;
        self.flush_stdin();
    }

    /// The reader went away (EPIPE): nothing more can be delivered.
    fn drop_stdin(&mut self) {
        self.stdin = None;
        self.stdin_pending = Vec::new();
    }

    /// Closes everything (the process is gone).
    pub fn close(&mut self) {
        *self = Io::default();
    }
}
