//! Worker loops. Decode workers keep every assigned track's PCM ring topped up; encode
//! workers run each player's frame step (commands, filters, volume, Opus) to keep its frame
//! ring a couple of frames deep. Both serve many players; neither ever blocks on I/O.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::Thread;
use std::time::{Duration, Instant};

use crossbeam::channel::Receiver;

use super::disposal::dispose;
use super::fault::{fault_exception, isolate};
use super::helper::HelperJob;
use super::player::{PlayerPipeline, Scratch, Step};
use super::track::{playback_exception, DecodeJob, DecodeSrc};
use super::Shared;

/// Packets decoded per job per pass, so one track cannot starve the others.
const PACKETS_PER_PASS: usize = 8;

pub(crate) fn run_decode(shared: Arc<Shared>, rx: Receiver<Box<DecodeJob>>) {
    let me = {
        let name = std::thread::current().name().unwrap_or("").to_string();
        name.rsplit('-')
            .next()
            .and_then(|s| s.parse::<usize>().ok())
            .unwrap_or(0)
    };
    let mut jobs: Vec<Box<DecodeJob>> = Vec::with_capacity(256);
    while !shared.shutdown.load(Ordering::Relaxed) {
        while let Ok(j) = rx.try_recv() {
            jobs.push(j);
        }
        let mut progress = false;
        let mut i = 0;
        while i < jobs.len() {
            let job = &mut jobs[i];
            if job.ctl.stopped() {
                let j = jobs.swap_remove(i);
                dispose(&shared, j);
                continue;
            }
            if job.ctl.seek_gen.load(Ordering::Acquire) != job.handled_seek {
                let j = jobs.swap_remove(i);
                let _ = shared.helper_tx.send(HelperJob::Seek(j, me));
                continue;
            }
            match isolate(|| decode_pass(job)) {
                Ok(p) => {
                    progress |= p;
                    if p && job.wake_encoder {
                        // The first audio after an open or a seek: the encode worker makes
                        // its frames now, in time for the next tick.
                        job.wake_encoder = false;
                        if let Some(t) = &job.ctl.encoder {
                            t.unpark();
                        }
                    }
                }
                Err(panic) => {
                    // The decoder may be half-updated: fail the track and drop the job.
                    let j = jobs.swap_remove(i);
                    j.ctl.fail(fault_exception("decode", &*panic));
                    dispose(&shared, j);
                    continue;
                }
            }
            i += 1;
        }
        if !progress {
            std::thread::park_timeout(Duration::from_millis(10));
        }
    }
    for j in jobs {
        dispose(&shared, j);
    }
}

/// Decodes up to one pass of packets for `job`; true if it pushed anything.
fn decode_pass(job: &mut DecodeJob) -> bool {
    #[cfg(debug_assertions)]
    if job.inject_panic {
        panic!("test: injected panic in the decoder");
    }
    let mut progress = false;
    // Read-ahead sources decode one packet per readiness check, so a packet never
    // waits for the network on this thread.
    let (rounds, per_round) = if job.readiness.is_some() {
        (PACKETS_PER_PASS, 1)
    } else {
        (1, PACKETS_PER_PASS)
    };
    for _ in 0..rounds {
        let ready = job.readiness.as_ref().is_none_or(|r| r.ready());
        if !ready || job.ctl.eof.load(Ordering::Acquire) {
            break;
        }
        let (pushed, stop) = decode_step(job, per_round, false);
        progress |= pushed;
        if stop {
            break;
        }
    }
    progress
}

/// Decodes `n` packets of `job` (it may wait inside a read); teaches the read-ahead's
/// readiness how large a step is. Returns (pushed anything, stop this pass).
fn decode_step(job: &mut DecodeJob, n: usize, may_wait: bool) -> (bool, bool) {
    let before = job.readiness.as_ref().map(|r| r.begin_step(may_wait));
    let r = match &mut job.src {
        DecodeSrc::Pcm(d, ring) => crate::telemetry::timed_decode(|| d.fill(ring, n)),
        DecodeSrc::Opus(d, ring) => d.fill(ring, n),
    };
    if let (Some(r), Some(before)) = (job.readiness.as_ref(), before) {
        r.observe(before);
    }
    match r {
        Ok(f) => {
            job.pushed += f.pushed as u64;
            if f.eof {
                job.ctl.eof.store(true, Ordering::Release);
            }
            (f.pushed > 0, f.full || f.eof)
        }
        Err(e) => {
            job.ctl.fail(playback_exception(&format!(
                "basalt::decode::DecodeError: {e}"
            )));
            (false, true)
        }
    }
}

/// The first packet of a read-ahead track is decoded on the open helper, where waiting
/// for bytes is allowed: `Readiness` then knows the step size before the decode worker
/// takes the track, so a first frame larger than the low-water mark (a 40 KiB FLAC frame
/// on a slow link) never makes the decode worker wait inside a read.
pub(crate) fn decode_first_step(job: &mut DecodeJob) {
    if job.readiness.is_some() && !job.ctl.eof.load(Ordering::Acquire) {
        decode_step(job, 1, true);
    }
}

pub(crate) fn run_encode(shared: Arc<Shared>, rx: Receiver<PlayerPipeline>, decoders: Vec<Thread>) {
    let mut players: Vec<PlayerPipeline> = Vec::with_capacity(256);
    let mut scratch = Scratch::new();
    while !shared.shutdown.load(Ordering::Relaxed) {
        while let Ok(p) = rx.try_recv() {
            players.push(p);
        }
        let now = Instant::now();
        let mut consumed = false;
        let mut i = 0;
        while i < players.len() {
            let step = match isolate(|| players[i].service(now, &mut scratch)) {
                Ok(step) => step,
                Err(panic) => {
                    // The scratch may hold half a frame: start it afresh (an allocation,
                    // only after a panic). The player fails its track and stays usable.
                    scratch = Scratch::new();
                    let e = fault_exception("the frame step", &*panic);
                    match isolate(|| players[i].fault(e)) {
                        Ok(()) => Step {
                            consumed: false,
                            remove: false,
                        },
                        Err(_) => {
                            // Not even its recovery runs: this player is lost, not the rest.
                            log::error!("engine: player could not recover from a panic; dropped");
                            Step {
                                consumed: false,
                                remove: true,
                            }
                        }
                    }
                }
            };
            consumed |= step.consumed;
            if step.remove {
                let p = players.swap_remove(i);
                dispose(&shared, Box::new(p));
                continue;
            }
            i += 1;
        }
        if consumed {
            for t in &decoders {
                t.unpark();
            }
        }
        // The pacer unparks us after every tick, a command or the first audio after a seek
        // as soon as it is there (`PlayerHandle::send`, the decode worker).
        std::thread::park_timeout(Duration::from_millis(20));
    }
    for p in players {
        dispose(&shared, Box::new(p));
    }
}
