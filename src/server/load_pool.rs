//! `loadtracks` (and PATCH `track.identifier`) off the REST workers' critical path: loads
//! run on a few dedicated threads and a request waits for its result at most
//! `[server] load_timeout_ms`. A hand-off only succeeds when a loader thread is idle, so
//! at most `loaders` REST workers ever wait on a load: slow hosts (a URL sending 1 byte/s)
//! can never take every worker, and a stuck load never holds shutdown (the threads are
//! detached; the process exits around them).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam::channel::Sender;

use super::backend::TrackLoader;
use crate::source::LoadResult;
use crate::track::{Severity, TrackException};

type Job = Box<dyn FnOnce() + Send>;

pub struct LoadPool {
    tx: Mutex<Option<Sender<Job>>>,
    timeout: Duration,
    /// Set by `shutdown`: waiting requests give up at once, so shutdown never waits on a load.
    stopped: AtomicBool,
}

fn error(message: String) -> LoadResult {
    LoadResult::Error(TrackException {
        message: Some(message.clone()),
        severity: Severity::Common,
        cause: format!("basalt.LoadException: {message}"),
        cause_stack_trace: String::new(),
    })
}

impl LoadPool {
    pub fn new(threads: usize, timeout: Duration) -> LoadPool {
        // Rendezvous: a send succeeds only into an idle loader.
        let (tx, rx) = crossbeam::channel::bounded::<Job>(0);
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("loader-{i}"))
                .spawn(move || {
                    while let Ok(job) = rx.recv() {
                        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
                            log::error!("a track load panicked");
                        }
                    }
                });
            if let Err(e) = spawned {
                log::error!("cannot start a loader thread: {e}");
            }
        }
        LoadPool {
            tx: Mutex::new(Some(tx)),
            timeout,
            stopped: AtomicBool::new(false),
        }
    }

    /// Load `identifier`, or an error result when every loader is busy or the load does
    /// not finish within the deadline (the load itself keeps its thread until the
    /// source's own timeouts end it).
    pub fn load(&self, loader: &Arc<dyn TrackLoader>, identifier: &str) -> LoadResult {
        let (rtx, rrx) = crossbeam::channel::bounded(1);
        let (loader, id) = (loader.clone(), identifier.to_string());
        let job: Job = Box::new(move || {
            let _ = rtx.try_send(loader.load(&id));
        });
        let sent = {
            let guard = self.tx.lock().unwrap_or_else(|p| p.into_inner());
            match guard.as_ref() {
                Some(tx) => tx.send_timeout(job, Duration::from_millis(200)),
                None => return error("The node is shutting down".into()),
            }
        };
        match sent {
            Ok(()) => {}
            Err(crossbeam::channel::SendTimeoutError::Timeout(_))
            | Err(crossbeam::channel::SendTimeoutError::Disconnected(_)) => {
                return error("Every track loader is busy; try again".into());
            }
        }
        let deadline = Instant::now() + self.timeout;
        while !self.stopped.load(Ordering::Relaxed) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match rrx.recv_timeout(left.min(Duration::from_millis(100))) {
                Ok(r) => return r,
                Err(crossbeam::channel::RecvTimeoutError::Disconnected) => {
                    return error("The track load failed".into())
                }
                Err(crossbeam::channel::RecvTimeoutError::Timeout) => {}
            }
        }
        if self.stopped.load(Ordering::Relaxed) {
            return error("The node is shutting down".into());
        }
        error(format!(
            "Loading the track took longer than {} ms",
            self.timeout.as_millis()
        ))
    }

    /// Idle loaders end; busy ones end after their load.
    pub fn shutdown(&self) {
        self.stopped.store(true, Ordering::Relaxed);
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}
