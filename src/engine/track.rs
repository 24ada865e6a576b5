//! Per-track state shared by the encode side (consumer) and the decode side (producer).

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};

use crossbeam::channel::{self, Receiver, Sender};

use crate::decode::{OpusDemuxer, OpusPacket, PcmDecoder};
use crate::track::TrackException;

/// What the helper pool reports back to the encode side for a track.
pub enum Outcome {
    /// The source is open; read audio from this feed.
    Opened(Feed),
    /// Opening, seeking or decoding failed (sent before `eof` is raised).
    Failed(TrackException),
}

/// The consumer end of a track's decoded data.
pub enum Feed {
    Pcm(rtrb::Consumer<crate::audio_format::PcmSample>),
    Opus(Box<OpusFeed>),
}

/// Opus sources: demuxed packets, passed through or decoded on the encode side.
pub struct OpusFeed {
    pub packets: rtrb::Consumer<OpusPacket>,
    pub decoder: opus2::Decoder,
}

/// Control and status flags of one track, between encode side, decode worker and helper.
pub struct TrackCtl {
    /// The encode side is done with the track: the decode side drops it.
    pub stop: AtomicBool,
    /// Latest requested seek target (ms) and its generation.
    pub seek_ms: AtomicI64,
    pub seek_gen: AtomicU32,
    /// Generation of the last completed seek and the producer's push count at that moment:
    /// everything pushed before it is pre-seek audio the consumer discards.
    pub seek_done_gen: AtomicU32,
    pub seek_done_at: AtomicU64,
    /// The decoder reached the end (or failed); set after its last push.
    pub eof: AtomicBool,
    pub outcome_tx: Sender<Outcome>,
    pub outcome_rx: Receiver<Outcome>,
    /// The player's encode worker: woken when the first audio after an open or a seek is
    /// decoded, so it reaches the next packet instead of waiting for the pacer's tick.
    pub encoder: Option<std::thread::Thread>,
}

impl TrackCtl {
    pub fn new(encoder: Option<std::thread::Thread>) -> TrackCtl {
        let (outcome_tx, outcome_rx) = channel::bounded(4);
        TrackCtl {
            stop: AtomicBool::new(false),
            seek_ms: AtomicI64::new(0),
            seek_gen: AtomicU32::new(0),
            seek_done_gen: AtomicU32::new(0),
            seek_done_at: AtomicU64::new(0),
            eof: AtomicBool::new(false),
            outcome_tx,
            outcome_rx,
            encoder,
        }
    }

    pub fn fail(&self, e: TrackException) {
        let _ = self.outcome_tx.try_send(Outcome::Failed(e));
        self.eof.store(true, Ordering::Release);
    }

    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }
}

/// The producer end: the decoder and its ring, owned by one decode worker at a time (or by
/// the helper pool while it seeks).
pub struct DecodeJob {
    pub ctl: std::sync::Arc<TrackCtl>,
    pub src: DecodeSrc,
    /// Units pushed so far (samples or packets), for the seek protocol.
    pub pushed: u64,
    /// The seek generation this job last handled.
    pub handled_seek: u32,
    /// Set by an open or a seek: the decode worker wakes the encode side once it has pushed.
    pub wake_encoder: bool,
    /// For read-ahead sources: whether enough bytes are buffered to decode without waiting.
    pub readiness: Option<super::readahead::Readiness>,
    /// Test-only (debug builds): this job's decode step panics (`fault::decode_panic_for`).
    #[cfg(debug_assertions)]
    pub inject_panic: bool,
}

pub enum DecodeSrc {
    Pcm(
        Box<PcmDecoder>,
        rtrb::Producer<crate::audio_format::PcmSample>,
    ),
    Opus(Box<OpusDemuxer>, rtrb::Producer<OpusPacket>),
}

/// The exception Lavalink reports for failures while playing.
pub fn playback_exception(cause: &str) -> TrackException {
    TrackException {
        message: Some("Something broke when playing the track.".into()),
        severity: crate::track::Severity::Fault,
        cause: cause.to_string(),
        cause_stack_trace: cause.to_string(),
    }
}
