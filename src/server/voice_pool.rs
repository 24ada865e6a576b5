//! Voice handshakes off the HTTP workers: a fixed set of threads takes connect jobs from a
//! bounded queue, so a PATCH with a `voice` object answers at once and a silent or dead
//! voice endpoint costs a queue slot, never a REST worker or a thread per player. The
//! voice module bounds each handshake by its connect timeout, so the queue always drains.

use std::sync::Mutex;

use crossbeam::channel::{Receiver, Sender, TrySendError};

/// Threads running voice handshakes at once (each holds at most one socket while trying).
const THREADS: usize = 8;
/// Handshakes waiting for a thread; more are refused (503-like error to the client).
const QUEUE: usize = 1024;

type Job = Box<dyn FnOnce() + Send>;

pub struct VoicePool {
    tx: Mutex<Option<Sender<Job>>>,
}

impl VoicePool {
    pub fn new() -> VoicePool {
        let (tx, rx) = crossbeam::channel::bounded::<Job>(QUEUE);
        for i in 0..THREADS {
            let rx: Receiver<Job> = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("voice-connect-{i}"))
                .spawn(move || {
                    while let Ok(job) = rx.recv() {
                        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                        if r.is_err() {
                            log::error!("a voice connect job panicked");
                        }
                    }
                });
            if let Err(e) = spawned {
                log::error!("cannot start a voice connect thread: {e}");
            }
        }
        VoicePool {
            tx: Mutex::new(Some(tx)),
        }
    }

    /// Queue a handshake; false when the queue is full or the node is shutting down.
    pub fn submit(&self, job: impl FnOnce() + Send + 'static) -> bool {
        let guard = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_ref().map(|tx| tx.try_send(Box::new(job))) {
            Some(Ok(())) => true,
            Some(Err(TrySendError::Full(_))) | Some(Err(TrySendError::Disconnected(_))) => false,
            None => false,
        }
    }

    /// Threads end once the queued jobs are done.
    pub fn shutdown(&self) {
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

impl Default for VoicePool {
    fn default() -> Self {
        VoicePool::new()
    }
}
