//! Deadline polls for the tests: check a condition every few milliseconds and fail with a
//! clear message after a generous deadline. A fixed sleep ("it has probably happened by
//! now") flakes on a loaded 2-core CI machine; a poll is as fast as the node allows and
//! only gives up when something is really wrong.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpStream};
use std::process::Child;
use std::time::{Duration, Instant};

/// How long to sleep between two checks: short enough not to slow a test down, long
/// enough not to steal a core from the node under test.
pub const STEP: Duration = Duration::from_millis(10);

/// The default deadline for things that should take milliseconds on an idle machine.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// How long a frame count must stay still for [`wait_quiet`] callers to call it settled
/// (five pacer ticks).
pub const QUIET: Duration = Duration::from_millis(100);

/// Polls `cond` until it holds; panics naming `what` if it still does not after `deadline`.
pub fn wait_until(what: &str, deadline: Duration, mut cond: impl FnMut() -> bool) {
    wait_for(what, deadline, || cond().then_some(()))
}

/// Polls `f` until it yields a value and returns it; panics naming `what` after `deadline`.
pub fn wait_for<T>(what: &str, deadline: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        if start.elapsed() >= deadline {
            panic!("timed out after {deadline:?} waiting for {what}");
        }
        std::thread::sleep(STEP);
    }
}

/// Waits until the spawned node accepts TCP connections on `addr`. Fails at once (with
/// the exit status) if the process dies first, rather than waiting out the deadline.
pub fn wait_listening(child: &mut Child, addr: SocketAddr) {
    wait_until("the node to listen", Duration::from_secs(30), || {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the node exited ({status}) before listening on {addr}");
        }
        TcpStream::connect(addr).is_ok()
    });
}

/// Waits until `count` has not changed for `quiet`: a sink after its track ended, whose
/// last frames may still be in the pacer's ring. Panics naming `what` after `deadline`.
pub fn wait_quiet(
    what: &str,
    quiet: Duration,
    deadline: Duration,
    mut count: impl FnMut() -> usize,
) {
    let mut last = (count(), Instant::now());
    wait_until(what, deadline, || {
        let n = count();
        if n != last.0 {
            last = (n, Instant::now());
        }
        last.1.elapsed() >= quiet
    });
}

/// Stops a spawned node as a supervisor would: SIGTERM, up to `grace` for it to exit (a
/// clean shutdown), then SIGKILL. Never panics: it runs from `Drop`.
pub fn stop(child: &mut Child, grace: Duration) {
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let start = Instant::now();
    while start.elapsed() < grace {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(STEP);
    }
    let _ = child.kill();
    let _ = child.wait();
}
