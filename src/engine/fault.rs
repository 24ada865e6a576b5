//! Fault isolation: a panic in one player's work (decoding, filters, encoding, a source read,
//! an open or a seek, a sink's send) is caught at that player's step boundary and fails only
//! its track, with a `fault` TrackExceptionEvent; the thread and every other player on it go on.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::track::TrackException;

/// The panic's message, for the exception's cause.
pub fn panic_message(p: &(dyn Any + Send)) -> &str {
    if let Some(s) = p.downcast_ref::<&str>() {
        s
    } else if let Some(s) = p.downcast_ref::<String>() {
        s
    } else {
        "unknown panic"
    }
}

/// The exception a caught panic becomes; `stage` names where it happened.
pub fn fault_exception(stage: &str, p: &(dyn Any + Send)) -> TrackException {
    let msg = panic_message(p);
    log::error!("engine: panic in {stage}, failing that track only: {msg}");
    super::track::playback_exception(&format!("basalt::engine::Fault: panic in {stage}: {msg}"))
}

/// Runs `f`, turning a panic into `Err(payload)`. The state `f` touches belongs to one
/// player, and the caller discards or resets it on `Err`, so asserting unwind safety holds.
pub fn isolate<R>(f: impl FnOnce() -> R) -> Result<R, Box<dyn Any + Send>> {
    catch_unwind(AssertUnwindSafe(f))
}

/// Drops `g`, containing a panic in its destructor (a decoder's or a sink's).
pub fn drop_isolated<T>(g: T) {
    if let Err(p) = isolate(move || drop(g)) {
        log::error!(
            "engine: panic while freeing a player's state: {}",
            panic_message(&*p)
        );
    }
}

/// Installs a panic hook that keeps engine threads (`basalt-*`) quick: one log line with
/// the location instead of the default hook's output, which symbolises a whole backtrace
/// when `RUST_BACKTRACE` is set (a quarter of a second under load, during which that
/// worker's other players would miss frames). The step boundary that catches the panic
/// reports it as the track's exception. Other threads keep the previous hook.
pub fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current();
        match thread.name() {
            Some(name) if is_engine_thread(name) => {
                let at = info
                    .location()
                    .map(|l| format!(" at {}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                log::error!("panic on {name}{at}: {}", panic_message(info.payload()));
            }
            _ => previous(info),
        }
    }));
}

fn is_engine_thread(name: &str) -> bool {
    name.starts_with("basalt-")
}

/// Test-only fault injection (debug builds only; release builds have no such check): the
/// frame step of the player of this guild panics while it has a track, as a bug in a
/// filter or the encoder would. 0 = none.
#[cfg(debug_assertions)]
static PANIC_FRAME_STEP: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Makes the frame step of `guild`'s player panic (0 turns it off). Debug builds only.
#[cfg(debug_assertions)]
#[doc(hidden)]
pub fn inject_frame_panic(guild: u64) {
    PANIC_FRAME_STEP.store(guild, std::sync::atomic::Ordering::Relaxed);
}

#[cfg(debug_assertions)]
pub(crate) fn injected_frame_panic(guild: u64) {
    if guild != 0 && PANIC_FRAME_STEP.load(std::sync::atomic::Ordering::Relaxed) == guild {
        panic!("test: injected panic in the frame step");
    }
}

/// Test-only fault injection through the real binary (debug builds only): a track whose
/// identifier contains `BASALT_TEST_PANIC_DECODE` (read once) panics in its decode step,
/// as a decoder bug on a crafted file would.
#[cfg(debug_assertions)]
pub(crate) fn decode_panic_for(identifier: &str) -> bool {
    static NEEDLE: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    NEEDLE
        .get_or_init(|| {
            std::env::var("BASALT_TEST_PANIC_DECODE")
                .ok()
                .filter(|s| !s.is_empty())
        })
        .as_deref()
        .is_some_and(|n| identifier.contains(n))
}

#[cfg(test)]
mod tests {
    use super::is_engine_thread;

    #[test]
    fn engine_threads_are_told_apart_by_name() {
        for name in [
            "basalt-encode-0",
            "basalt-decode-3",
            "basalt-pacer",
            "basalt-io-7",
        ] {
            assert!(is_engine_thread(name), "{name}");
        }
        for name in ["main", "http-accept", "ws-abc", "voice-io"] {
            assert!(!is_engine_thread(name), "{name}");
        }
    }
}
