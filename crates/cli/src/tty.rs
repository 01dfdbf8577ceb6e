//! The local terminal for `-it`: raw mode for as long as a [`RawMode`] lives (restored
//! on drop, and by a panic hook, since release builds abort on panic), and its size.

use std::os::fd::BorrowedFd;
use std::sync::Mutex;

use rustix::termios::{self, OptionalActions, Termios};

/// The settings to restore; shared with the panic hook.
static SAVED: Mutex<Option<Termios>> = Mutex::new(None);

fn stdin_fd() -> BorrowedFd<'static> {
    rustix::stdio::stdin()
}

pub fn is_tty(fd: BorrowedFd<'_>) -> bool {
    termios::isatty(fd)
}

pub fn stdin_is_tty() -> bool {
    is_tty(stdin_fd())
}

/// Columns and rows of our terminal (stdout's, else stdin's).
pub fn size() -> Option<(u16, u16)> {
    let w = termios::tcgetwinsize(rustix::stdio::stdout())
        .or_else(|_| termios::tcgetwinsize(stdin_fd()))
        .ok()?;
    (w.ws_col > 0 && w.ws_row > 0).then_some((w.ws_col, w.ws_row))
}

fn restore() {
    if let Ok(mut g) = SAVED.lock()
        && let Some(t) = g.take()
    {
        let _ = termios::tcsetattr(stdin_fd(), OptionalActions::Now, &t);
    }
}

pub struct RawMode(());

impl RawMode {
    /// Puts stdin's terminal in raw mode; None when stdin is not a terminal.
    pub fn enter() -> Option<RawMode> {
        let fd = stdin_fd();
        let orig = termios::tcgetattr(fd).ok()?;
        let mut raw = orig.clone();
        raw.make_raw();
        // Output post-processing stays as the user had it, so our own messages (and a
        // remote tty's \r\n) still render right.
        raw.output_modes = orig.output_modes;
        if let Ok(mut g) = SAVED.lock() {
            *g = Some(orig);
        }
        static HOOK: std::sync::Once = std::sync::Once::new();
        HOOK.call_once(|| {
            let prev = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                restore();
                prev(info);
            }));
        });
        termios::tcsetattr(fd, OptionalActions::Now, &raw).ok()?;
        Some(RawMode(()))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        restore();
    }
}
