//! The disposal thread: decoders, rings and sinks of finished tracks are freed here, so a
//! large `free` never stalls a worker or the pacer. It also hands freed heap pages back to
//! the OS now and then (`crate::heap_trim`).

use std::sync::atomic::Ordering;
use std::time::Duration;

use crossbeam::channel::{Receiver, RecvTimeoutError};

use super::Shared;

pub type Garbage = Box<dyn Send>;

/// Hands an object to the disposal thread (drops it here if the thread is gone).
pub(crate) fn dispose(shared: &Shared, g: Garbage) {
    let _ = shared.dispose_tx.send(g);
}

pub(crate) fn run(shared: std::sync::Arc<Shared>, rx: Receiver<Garbage>) {
    let mut trim = crate::heap_trim::HeapTrim::new();
    loop {
        trim.tick();
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(g) => super::fault::drop_isolated(g),
            Err(RecvTimeoutError::Timeout) => {
                if shared.shutdown.load(Ordering::Relaxed) {
                    while let Ok(g) = rx.try_recv() {
                        super::fault::drop_isolated(g);
                    }
                    return;
                }
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}
