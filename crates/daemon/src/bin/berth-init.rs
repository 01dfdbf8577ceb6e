//! berth-init: the tiny init `--init` puts at PID 1. It starts the command, forwards the
//! signals a container receives to it, reaps every zombie re-parented to it, and exits
//! with the command's status (128+N when killed by signal N), like Docker's tini.

use std::ffi::CString;

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--") {
        args.remove(0);
    }
    if args.is_empty() {
        eprintln!("berth-init: usage: berth-init [--] COMMAND [ARG...]");
        std::process::exit(2);
    }
    let cargs: Vec<CString> = match args.iter().map(|a| CString::new(a.as_bytes())).collect() {
        Ok(v) => v,
        Err(_) => {
            eprintln!("berth-init: argument contains a NUL byte");
            std::process::exit(2);
        }
    };
    // SAFETY: plain libc signal-mask and process calls on memory we own. Signals are
    // blocked before fork so none is lost; the child restores the mask before exec.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigprocmask(libc::SIG_BLOCK, &all, &mut old);
        let pid = libc::fork();
        if pid < 0 {
            eprintln!("berth-init: fork: {}", std::io::Error::last_os_error());
            std::process::exit(1);
        }
        if pid == 0 {
            libc::sigprocmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
            libc::setpgid(0, 0);
            // Give the terminal (if any) to the child's process group.
            libc::tcsetpgrp(0, libc::getpid());
            let mut ptrs: Vec<*const libc::c_char> = cargs.iter().map(|c| c.as_ptr()).collect();
            ptrs.push(std::ptr::null());
            libc::execvp(ptrs[0], ptrs.as_ptr());
            let e = std::io::Error::last_os_error();
            eprintln!("berth-init: exec {}: {e}", args[0]);
            libc::_exit(if e.raw_os_error() == Some(libc::ENOENT) {
                127
            } else {
                126
            });
        }
        loop {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let sig = libc::sigwaitinfo(&all, &mut info);
            if sig < 0 {
                continue;
            }
            if sig != libc::SIGCHLD {
                libc::kill(pid, sig);
                continue;
            }
            loop {
                let mut status = 0;
                let r = libc::waitpid(-1, &mut status, libc::WNOHANG);
                if r <= 0 {
                    break;
                }
                if r == pid {
                    let code = if libc::WIFEXITED(status) {
                        libc::WEXITSTATUS(status)
                    } else {
                        128 + libc::WTERMSIG(status)
                    };
                    std::process::exit(code);
                }
            }
        }
    }
}
