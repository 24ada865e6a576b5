//! The blocking helper pool: opening a source (HTTP connect, probing) and seeking (range
//! re-requests) block, so they run here and never on a worker that serves other players.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, RecvTimeoutError};

use super::fault::{fault_exception, isolate};
use super::frame::FRAME_SAMPLES;
use super::track::{playback_exception, DecodeJob, DecodeSrc, Feed, OpusFeed, Outcome, TrackCtl};
use super::Shared;
use crate::decode::{self, Opened, OpusPacket};
use crate::track::TrackData;

/// Helper threads kept when idle. Opening a slow host blocks its helper for seconds, so the
/// pool grows whenever every helper is busy (one spare is always waiting), up to
/// `MAX_HELPERS`; extra threads leave after `IDLE_EXIT` without work.
pub const HELPER_THREADS: usize = 4;
pub const MAX_HELPERS: usize = 64;
const IDLE_EXIT: Duration = Duration::from_secs(30);

/// Size and load of the helper pool.
#[derive(Default)]
pub struct Pool {
    busy: AtomicUsize,
    total: AtomicUsize,
    next_id: AtomicUsize,
}

impl Pool {
    /// Threads alive (figures and tests).
    pub fn threads(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }
}

/// Starts one helper thread reading `rx`.
pub(crate) fn spawn_helper(
    shared: &Arc<Shared>,
    rx: Receiver<HelperJob>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let pool = &shared.helpers;
    let id = pool.next_id.fetch_add(1, Ordering::Relaxed);
    pool.total.fetch_add(1, Ordering::AcqRel);
    let s = shared.clone();
    std::thread::Builder::new()
        .name(format!("basalt-open-{id}"))
        .spawn(move || {
            let _watch = super::fault::Watch(format!("basalt-open-{id}"));
            run(s, rx)
        })
        .inspect_err(|_| {
            pool.total.fetch_sub(1, Ordering::AcqRel);
        })
}

/// Called by a helper that just took a job: if that left no helper idle, start one more
/// (on this helper, never on a worker), within `MAX_HELPERS`.
fn grow_if_saturated(shared: &Arc<Shared>, rx: &Receiver<HelperJob>) {
    let pool = &shared.helpers;
    let busy = pool.busy.load(Ordering::Acquire);
    let total = pool.total.load(Ordering::Acquire);
    if busy >= total && total < MAX_HELPERS {
        if let Err(e) = spawn_helper(shared, rx.clone()) {
            log::warn!("helper pool cannot grow: {e}");
        }
    }
}

pub enum HelperJob {
    Open {
        track: Arc<TrackData>,
        ctl: Arc<TrackCtl>,
        start_ms: i64,
    },
    Seek(Box<DecodeJob>, usize),
}

pub(crate) fn run(shared: Arc<Shared>, rx: Receiver<HelperJob>) {
    let mut idle_since = Instant::now();
    loop {
        let got = rx.recv_timeout(Duration::from_millis(100));
        if got.is_ok() {
            shared.helpers.busy.fetch_add(1, Ordering::AcqRel);
            grow_if_saturated(&shared, &rx);
        }
        let was_job = got.is_ok();
        match got {
            Ok(HelperJob::Open {
                track,
                ctl,
                start_ms,
            }) => {
                let c = ctl.clone();
                if let Err(p) = isolate(|| open(&shared, &track, ctl, start_ms)) {
                    c.fail(fault_exception("opening the source", &*p));
                }
            }
            Ok(HelperJob::Seek(job, worker)) => {
                let c = job.ctl.clone();
                if let Err(p) = isolate(|| seek(&shared, job, worker)) {
                    // The job is gone with the panic: fail the track and settle the seek so
                    // the encode side plays out what it has and reports the fault.
                    c.fail(fault_exception("seeking", &*p));
                    let gen = c.seek_gen.load(Ordering::Acquire);
                    c.seek_done_gen.store(gen, Ordering::Release);
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                if shared.shutdown.load(Ordering::Relaxed) {
                    shared.helpers.total.fetch_sub(1, Ordering::AcqRel);
                    return;
                }
                if idle_since.elapsed() > IDLE_EXIT && leave_if_spare(&shared.helpers) {
                    return;
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                shared.helpers.total.fetch_sub(1, Ordering::AcqRel);
                return;
            }
        }
        if was_job {
            shared.helpers.busy.fetch_sub(1, Ordering::AcqRel);
            idle_since = Instant::now();
        }
    }
}

/// An idle helper beyond the kept minimum leaves (true) by taking itself off the count.
fn leave_if_spare(pool: &Pool) -> bool {
    pool.total
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
            (t > HELPER_THREADS).then(|| t - 1)
        })
        .is_ok()
}

fn open(shared: &Shared, track: &TrackData, ctl: Arc<TrackCtl>, start_ms: i64) {
    if ctl.stopped() {
        return;
    }
    let mut input = match (shared.opener)(track) {
        Ok(i) => i,
        Err(e) => return ctl.fail(e),
    };
    // Every source is read on the I/O pool, never on the decode worker: network sources
    // stall, and so does a local file on a slow or hung disk (an NFS mount, a FIFO). The
    // decode worker decodes only what is already buffered (two seconds of the track,
    // 32-128 KiB; 64 KiB for streams).
    let ring = super::readahead::ring_bytes_for(input.reader.byte_len(), track.info.length);
    let ra = super::readahead::ReadAhead::with_capacity(input.reader, &shared.io, ring);
    let readiness = Some(ra.readiness());
    input.reader = Box::new(ra);
    let opened = match decode::open(input, shared.settings.resampling) {
        Ok(o) => o,
        Err(e) => {
            return ctl.fail(playback_exception(&format!(
                "basalt::decode::DecodeError: {e}"
            )))
        }
    };
    let ring_frames = (shared.settings.pcm_ring_ms as usize * 48) / 20 * 20;
    let (src, feed) = match opened {
        Opened::Pcm(dec) => {
            // Timescale's larger inputs are gathered on the encode side (`PlayerPipeline::pull_staged`).
            let cap = (ring_frames * 2).max(FRAME_SAMPLES * 2);
            let (p, c) = rtrb::RingBuffer::<crate::audio_format::PcmSample>::new(cap);
            (DecodeSrc::Pcm(dec, p), Feed::Pcm(c))
        }
        Opened::Opus(demux) => {
            let decoder = match opus2::Decoder::new(
                crate::audio_format::SAMPLE_RATE,
                opus2::Channels::Stereo,
            ) {
                Ok(d) => d,
                Err(e) => return ctl.fail(playback_exception(&format!("libopus: {e}"))),
            };
            let cap = (shared.settings.pcm_ring_ms as usize / 20).clamp(4, 10);
            let (p, c) = rtrb::RingBuffer::<OpusPacket>::new(cap);
            (
                DecodeSrc::Opus(demux, p),
                Feed::Opus(Box::new(OpusFeed {
                    packets: c,
                    decoder,
                })),
            )
        }
    };
    let mut job = Box::new(DecodeJob {
        ctl: ctl.clone(),
        src,
        pushed: 0,
        handled_seek: 0,
        wake_encoder: true,
        readiness,
        #[cfg(debug_assertions)]
        inject_panic: super::fault::decode_panic_for(&track.info.identifier),
    });
    if start_ms > 0 {
        if let Err(e) = src_seek(&mut job.src, start_ms) {
            return ctl.fail(playback_exception(&format!(
                "basalt::decode::DecodeError: {e}"
            )));
        }
    }
    if ctl.outcome_tx.try_send(Outcome::Opened(feed)).is_err() {
        return;
    }
    super::worker::decode_first_step(&mut job);
    hand_to_worker(shared, job, shared.decode_worker_for_next());
}

fn src_seek(src: &mut DecodeSrc, ms: i64) -> Result<(), decode::DecodeError> {
    match src {
        DecodeSrc::Pcm(d, _) => d.seek(ms),
        DecodeSrc::Opus(d, _) => d.seek(ms),
    }
}

fn seek(shared: &Shared, mut job: Box<DecodeJob>, worker: usize) {
    if job.ctl.stopped() {
        return super::disposal::dispose(shared, job);
    }
    let gen = job.ctl.seek_gen.load(Ordering::Acquire);
    let ms = job.ctl.seek_ms.load(Ordering::Acquire);
    if let Err(e) = src_seek(&mut job.src, ms) {
        job.ctl.fail(playback_exception(&format!(
            "basalt::decode::DecodeError: {e}"
        )));
    } else {
        job.ctl.eof.store(false, Ordering::Release);
    }
    job.handled_seek = gen;
    job.wake_encoder = true;
    job.ctl.seek_done_at.store(job.pushed, Ordering::Release);
    job.ctl.seek_done_gen.store(gen, Ordering::Release);
    // The encode side drops the pre-seek audio now: a full ring would hold the decoder
    // back until the next tick.
    if let Some(t) = &job.ctl.encoder {
        t.unpark();
    }
    hand_to_worker(shared, job, worker);
}

fn hand_to_worker(shared: &Shared, job: Box<DecodeJob>, worker: usize) {
    let _ = shared.decode_tx[worker].send(job);
    if let Some(t) = shared
        .decode_threads
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(worker)
    {
        t.unpark();
    }
}
