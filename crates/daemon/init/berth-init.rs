//! berth-init: the tiny init `--init` puts at PID 1. It starts the command, forwards the
//! signals the container receives to it, reaps every zombie re-parented to it, and exits
//! with the command's status (128+N when killed by signal N), as Docker's tini does.
//!
//! It runs inside images that may have no C library, so build.rs compiles this file alone
//! with a statically linked C runtime; it therefore uses no crates, only the few libc
//! functions declared below.

use std::ffi::CString;
use std::os::raw::{c_char, c_int};

/// Large enough for glibc's sigset_t (1024 bits) and siginfo_t (128 bytes).
#[repr(C, align(8))]
struct Buf128([u8; 128]);

unsafe extern "C" {
    fn fork() -> c_int;
    fn execvp(file: *const c_char, argv: *const *const c_char) -> c_int;
    fn sigfillset(set: *mut Buf128) -> c_int;
    fn sigprocmask(how: c_int, set: *const Buf128, old: *mut Buf128) -> c_int;
    fn sigwaitinfo(set: *const Buf128, info: *mut Buf128) -> c_int;
    fn waitpid(pid: c_int, status: *mut c_int, options: c_int) -> c_int;
    fn kill(pid: c_int, sig: c_int) -> c_int;
    fn setpgid(pid: c_int, pgid: c_int) -> c_int;
    fn tcsetpgrp(fd: c_int, pgrp: c_int) -> c_int;
    fn getpid() -> c_int;
    fn _exit(code: c_int) -> !;
}

const SIG_BLOCK: c_int = 0;
const SIG_SETMASK: c_int = 2;
const SIGCHLD: c_int = 17;
const WNOHANG: c_int = 1;

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--") {
        args.remove(0);
    }
    if args.is_empty() {
        eprintln!("berth-init: usage: berth-init [--] COMMAND [ARG...]");
        std::process::exit(2);
    }
    let Ok(cargs) = args
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<Vec<_>, _>>()
    else {
        eprintln!("berth-init: argument contains a NUL byte");
        std::process::exit(2);
    };
    let mut all = Buf128([0; 128]);
    let mut old = Buf128([0; 128]);
    // SAFETY: libc calls on buffers we own, sized for glibc's types. Signals are blocked
    // before fork so none is lost; the child restores the mask before exec.
    unsafe {
        sigfillset(&mut all);
        sigprocmask(SIG_BLOCK, &all, &mut old);
        let pid = fork();
        if pid < 0 {
            eprintln!("berth-init: fork: {}", std::io::Error::last_os_error());
            std::process::exit(1);
        }
        if pid == 0 {
            setpgid(0, 0);
            // Give the terminal (if any) to the command's process group: with SIGTTOU
            // still blocked, or this (now background) group would be stopped by it.
            tcsetpgrp(0, getpid());
            sigprocmask(SIG_SETMASK, &old, std::ptr::null_mut());
            let mut ptrs: Vec<*const c_char> = cargs.iter().map(|c| c.as_ptr()).collect();
            ptrs.push(std::ptr::null());
            execvp(ptrs[0], ptrs.as_ptr());
            let e = std::io::Error::last_os_error();
            eprintln!("berth-init: exec {}: {e}", args[0]);
            _exit(if e.raw_os_error() == Some(2) { 127 } else { 126 });
        }
        loop {
            let mut info = Buf128([0; 128]);
            let sig = sigwaitinfo(&all, &mut info);
            if sig < 0 {
                continue;
            }
            if sig != SIGCHLD {
                kill(pid, sig);
                continue;
            }
            loop {
                let mut status: c_int = 0;
                let r = waitpid(-1, &mut status, WNOHANG);
                if r <= 0 {
                    break;
                }
                if r == pid {
                    let code = if status & 0x7f == 0 {
                        (status >> 8) & 0xff
                    } else {
                        128 + (status & 0x7f)
                    };
                    std::process::exit(code);
                }
            }
        }
    }
}
