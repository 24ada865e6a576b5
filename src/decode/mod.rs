//! Decoding: symphonia demuxes every container it knows and decodes every codec it has;
//! the result is mixed to stereo and resampled (`resample.rs`: a polyphase FIR for common
//! rates, rubato for odd ones) to 48 kHz interleaved stereo, pushed into the player's PCM
//! ring as 16-bit samples (`audio_format::PcmSample`, half the memory of f32); the player
//! turns them back into the f32 the filter chain and the Opus encoder want. Opus tracks
//! (symphonia has no Opus decoder) are only demuxed here: their packets go to the encode
//! side, which passes them through or decodes them with libopus when filters need PCM.

use rtrb::Producer;
use symphonia::core::codecs::audio::well_known::{
    CODEC_ID_AAC, CODEC_ID_MP1, CODEC_ID_MP2, CODEC_ID_MP3, CODEC_ID_OPUS,
};
use symphonia::core::codecs::audio::AudioCodecId;
use symphonia::core::codecs::audio::{AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{
    FormatOptions, FormatReader, SeekMode, SeekTo, SeekedTo, Track, TrackType,
};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::units::{Time, TimeBase};

use crate::audio_format::{push_pcm, PcmSample};
use crate::config::ResamplingQuality;
use crate::source::MediaInput;

mod mpa;
mod mpa_reader;
mod polyphase;
mod replay;
mod resample;
mod segmented;
pub use resample::Resampler48;

/// Output sample rate of the whole pipeline.
pub const OUT_RATE: u32 = crate::audio_format::SAMPLE_RATE;
/// Largest demuxed Opus packet kept for passthrough or decoding (120 ms at high bitrates).
pub const MAX_OPUS_SOURCE_PACKET: usize = 2040;

/// Decoding failures, each with a message fit for a TrackException cause.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("Unknown file format.")]
    UnknownFormat,
    #[error("no playable audio track in the file")]
    NoAudioTrack,
    #[error("unsupported codec: {0}")]
    Unsupported(String),
    #[error("I/O error: {0}")]
    Io(String),
    #[error("malformed stream: {0}")]
    Malformed(String),
    #[error("resampler: {0}")]
    Resampler(String),
    #[error("Opus packet of {0} bytes is too large")]
    PacketTooLarge(usize),
}

fn sym_err(e: SymError) -> DecodeError {
    match e {
        SymError::IoError(e) => DecodeError::Io(e.to_string()),
        SymError::Unsupported(what) => DecodeError::Unsupported(what.to_string()),
        other => DecodeError::Malformed(other.to_string()),
    }
}

/// One demuxed Opus packet, fixed-size so the packet ring never allocates.
#[derive(Clone, Copy)]
pub struct OpusPacket {
    pub len: u16,
    pub data: [u8; MAX_OPUS_SOURCE_PACKET],
}

impl OpusPacket {
    pub const EMPTY: OpusPacket = OpusPacket {
        len: 0,
        data: [0; MAX_OPUS_SOURCE_PACKET],
    };
    pub fn bytes(&self) -> &[u8] {
        &self.data[..self.len as usize]
    }
}

/// A freshly opened track.
pub enum Opened {
    Pcm(Box<PcmDecoder>),
    Opus(Box<OpusDemuxer>),
}

/// Result of one `fill` call.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fill {
    /// Units pushed into the ring (samples or packets).
    pub pushed: usize,
    /// The ring is full; call again once the consumer has read.
    pub full: bool,
    /// The end of the media was reached and everything was pushed.
    pub eof: bool,
}

/// A track's demuxer: our own for MPEG audio (`mpa_reader`: no 64 KiB stream buffer),
/// symphonia's for every other container.
enum Format {
    Symphonia(Box<dyn FormatReader>),
    Mpa(Box<mpa_reader::MpaReader>),
}

impl Format {
    fn next_packet(&mut self) -> Result<Option<symphonia::core::packet::Packet>, SymError> {
        match self {
            Format::Symphonia(f) => f.next_packet(),
            Format::Mpa(r) => r.next_packet(),
        }
    }

    fn seek(&mut self, time: Time, track_id: u32) -> Result<SeekedTo, SymError> {
        match self {
            Format::Symphonia(f) => f.seek(
                SeekMode::Accurate,
                SeekTo::Time {
                    time,
                    track_id: Some(track_id),
                },
            ),
            Format::Mpa(r) => r.seek(time),
        }
    }

    /// The track to play: the default audio track, else the first.
    fn audio_track(&self) -> Option<&Track> {
        match self {
            Format::Symphonia(f) => f
                .default_track(TrackType::Audio)
                .or_else(|| f.first_track(TrackType::Audio)),
            Format::Mpa(r) => Some(r.track()),
        }
    }
}

struct Demux {
    /// None only after a segment jump failed half-way: the track has ended.
    format: Option<Format>,
    track_id: u32,
    time_base: Option<TimeBase>,
    /// HLS VOD: seeks restart the demuxer at a segment (`segmented.rs`).
    segments: Option<segmented::Segmented>,
}

impl Demux {
    fn next_packet(&mut self) -> Result<Option<symphonia::core::packet::Packet>, SymError> {
        match self.format.as_mut() {
            Some(f) => f.next_packet(),
            None => Ok(None),
        }
    }

    /// Seeks so the next packets hold `ms`. Returns the source timestamp the caller must
    /// decode up to before output starts, and where the reader actually landed.
    fn seek(&mut self, ms: i64) -> Result<Option<(u64, u64)>, DecodeError> {
        if self.segments.is_some() {
            return segmented::seek(self, ms);
        }
        let Some(time) = Time::try_from_secs_f64(ms.max(0) as f64 / 1000.0) else {
            return Ok(None);
        };
        let Some(format) = self.format.as_mut() else {
            return Ok(None);
        };
        match format.seek(time, self.track_id) {
            Ok(s) => Ok(Some((
                s.required_ts.get().max(0) as u64,
                s.actual_ts.get().max(0) as u64,
            ))),
            // Past the end: the track simply runs out.
            Err(SymError::SeekError(_)) => Ok(None),
            Err(e) => Err(sym_err(e)),
        }
    }
}

/// Whether a source names itself MPEG audio (the sources name what they detected; a radio
/// stream says `audio/mpeg`): those go to our demuxer, every other one to symphonia's probe.
fn hints_mpeg_audio(extension: Option<&str>, mime: Option<&str>) -> bool {
    let ext = extension.unwrap_or("").to_ascii_lowercase();
    let mime = mime.unwrap_or("").to_ascii_lowercase();
    matches!(ext.as_str(), "mp3" | "mp2" | "mp1" | "mpga")
        || matches!(
            mime.split(';').next().unwrap_or("").trim(),
            "audio/mpeg" | "audio/mp3" | "audio/mpeg3" | "audio/x-mpeg" | "audio/mpa"
        )
}

/// Opens the demuxer for a source: ours when it says it is MPEG audio and is, else
/// symphonia's probe (reading again the bytes ours looked at).
fn open_format(
    reader: Box<dyn symphonia::core::io::MediaSource>,
    hint: &Hint,
    mpeg_hinted: bool,
) -> Result<Format, DecodeError> {
    if !mpeg_hinted {
        return probe_format(reader, hint).map(Format::Symphonia);
    }
    match mpa_reader::MpaReader::open(reader) {
        Ok(mpa_reader::Sniffed::Mpa(r)) => Ok(Format::Mpa(r)),
        Ok(mpa_reader::Sniffed::Other(replay)) => {
            probe_format(Box::new(replay), hint).map(Format::Symphonia)
        }
        Err(e) => Err(DecodeError::Io(e.to_string())),
    }
}

/// Finds the container's reader.
fn probe_format(
    reader: Box<dyn symphonia::core::io::MediaSource>,
    hint: &Hint,
) -> Result<Box<dyn FormatReader>, DecodeError> {
    let mss = MediaSourceStream::new(reader, MediaSourceStreamOptions::default());
    probe_stream(mss, hint)
}

fn probe_stream(
    mss: MediaSourceStream<'static>,
    hint: &Hint,
) -> Result<Box<dyn FormatReader>, DecodeError> {
    symphonia::default::get_probe()
        .probe(
            hint,
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|e| match e {
            SymError::Unsupported(_) => DecodeError::UnknownFormat,
            other => sym_err(other),
        })
}

/// Probes the container and prepares the decoder for its default audio track.
pub fn open(input: MediaInput, quality: ResamplingQuality) -> Result<Opened, DecodeError> {
    let mut hint = Hint::new();
    if let Some(ext) = &input.extension {
        hint.with_extension(ext);
    }
    if let Some(mime) = &input.mime {
        hint.mime_type(mime);
    }
    let mpeg_hinted = hints_mpeg_audio(input.extension.as_deref(), input.mime.as_deref());
    let (reader, segments) = segmented::wrap(input.reader, input.segments, &hint, mpeg_hinted);
    let format = open_format(reader, &hint, mpeg_hinted)?;
    let track = format.audio_track().ok_or(DecodeError::NoAudioTrack)?;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or(DecodeError::NoAudioTrack)?
        .clone();
    let track_id = track.id;
    let time_base = track.time_base;
    let demux = Demux {
        format: Some(format),
        track_id,
        time_base,
        segments,
    };
    if params.codec == CODEC_ID_OPUS {
        let channels = params.channels.as_ref().map(|c| c.count()).unwrap_or(2);
        return Ok(Opened::Opus(Box::new(OpusDemuxer {
            demux,
            channels,
            skip_until: 0,
            skip_from_first: None,
            ended: false,
        })));
    }
    let decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .map_err(|e| match e {
            SymError::Unsupported(_) => DecodeError::Unsupported(format!("{:?}", params.codec)),
            other => sym_err(other),
        })?;
    let rate = params.sample_rate.unwrap_or(OUT_RATE);
    let channels = params
        .channels
        .as_ref()
        .map(|c| c.count())
        .unwrap_or(2)
        .max(1);
    // Sized for the codec's largest packet when the container says (MP3 1,152 frames, AAC
    // 1,024): most players never need the 8,192-frame guess, and reserved-but-unused heap
    // fragments the memory every player shares.
    let max_frames = params.max_frames_per_packet.map_or_else(
        || typical_frames(params.codec),
        |n| n.clamp(1, 65_536) as usize,
    );
    let resampler = if rate == OUT_RATE {
        None
    } else {
        // The resampler's history grows (once) past 4,096 frames only for larger packets.
        Some(Resampler48::for_packets(
            rate,
            quality,
            Some(max_frames.min(4096)),
        )?)
    };
    let polyphase = resampler.as_ref().is_some_and(|r| r.is_polyphase());
    let out_frames =
        (max_frames as u64 * u64::from(OUT_RATE)).div_ceil(u64::from(rate.max(1))) as usize;
    Ok(Opened::Pcm(Box::new(PcmDecoder {
        demux,
        decoder,
        rate,
        channels,
        // Mono and stereo packets go to the polyphase resampler as planes, not through
        // `inter` (9 KiB for an MP3).
        inter: if polyphase && channels <= 2 {
            Vec::new()
        } else {
            Vec::with_capacity(max_frames * channels)
        },
        // The polyphase resampler writes into the ring itself: no output buffer (10 KiB
        // for an MP3).
        stereo: if polyphase {
            Vec::new()
        } else {
            Vec::with_capacity((out_frames + 64) * 2)
        },
        resampler,
        out_pos: 0,
        skip_src_frames: 0,
        ended: false,
    })))
}

/// Frames per packet to reserve for when the container does not say: the codec's fixed
/// packet size where it has one (an MP3 stream read over HTTP never states it, and the
/// 8,192-frame guess cost every such player ~130 KiB); the buffers still grow if a packet
/// is larger.
fn typical_frames(codec: AudioCodecId) -> usize {
    match codec {
        CODEC_ID_MP1 => 384,
        CODEC_ID_MP2 | CODEC_ID_MP3 => 1152,
        CODEC_ID_AAC => 2048,
        _ => 8192,
    }
}

/// A PCM codec track: decode → stereo → 48 kHz.
pub struct PcmDecoder {
    demux: Demux,
    decoder: Box<dyn AudioDecoder>,
    rate: u32,
    channels: usize,
    /// Decoded packet, interleaved in the source's channel layout; unused (no capacity) for
    /// mono and stereo into the polyphase resampler, which takes the planes.
    inter: Vec<f32>,
    /// 48 kHz stereo interleaved output not yet pushed (`out_pos..`); unused (no capacity)
    /// with the polyphase resampler, which writes into the ring.
    stereo: Vec<f32>,
    resampler: Option<Resampler48>,
    out_pos: usize,
    /// Source frames still to drop after an accurate seek.
    skip_src_frames: u64,
    ended: bool,
}

impl PcmDecoder {
    pub fn sample_rate(&self) -> u32 {
        self.rate
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Decodes up to `max_packets` packets into `ring`, stopping early when it is full.
    pub fn fill(
        &mut self,
        ring: &mut Producer<PcmSample>,
        max_packets: usize,
    ) -> Result<Fill, DecodeError> {
        let mut fill = Fill::default();
        let mut packets = 0;
        loop {
            if self.out_pos < self.stereo.len() {
                let n = push_pcm(ring, &self.stereo[self.out_pos..]);
                self.out_pos += n;
                fill.pushed += n;
                if self.out_pos < self.stereo.len() {
                    fill.full = true;
                    return Ok(fill);
                }
            }
            self.stereo.clear();
            self.out_pos = 0;
            // Resampled output goes straight into the ring when the backend can
            // (polyphase), an ended track's tail included.
            if let Some((n, more)) = self.resampler.as_mut().and_then(|r| r.drain_to_ring(ring)) {
                fill.pushed += n;
                if more {
                    fill.full = true;
                    return Ok(fill);
                }
            }
            if self.ended {
                fill.eof = true;
                return Ok(fill);
            }
            if packets >= max_packets {
                return Ok(fill);
            }
            packets += 1;
            self.decode_next()?;
        }
    }

    /// Decodes one packet (or flushes at the end) into `self.stereo`.
    fn decode_next(&mut self) -> Result<(), DecodeError> {
        let track_id = self.demux.track_id;
        // Our MPEG demuxer lends the packet from its buffer; symphonia's readers own theirs.
        let owned;
        let next = match self.demux.format.as_mut() {
            Some(Format::Mpa(r)) => r.next_packet_ref(),
            Some(Format::Symphonia(f)) => match f.next_packet() {
                Ok(p) => {
                    owned = p;
                    Ok(owned.as_ref().map(|p| p.as_packet_ref()))
                }
                Err(e) => Err(e),
            },
            None => Ok(None),
        };
        let packet = match next {
            Ok(Some(p)) => p,
            Ok(None) => return self.finish(),
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return self.finish()
            }
            Err(SymError::ResetRequired) => return self.finish(),
            Err(e) => return Err(sym_err(e)),
        };
        if packet.track_id != track_id {
            return Ok(());
        }
        let buf = match self.decoder.decode_ref(&packet) {
            Ok(b) => b,
            // A damaged packet: skip it as players do.
            Err(SymError::DecodeError(_)) => return Ok(()),
            Err(e) => return Err(sym_err(e)),
        };
        let frames = buf.frames();
        let ch = buf.spec().channels().count().max(1);
        let mut start = 0usize;
        if self.skip_src_frames > 0 {
            let s = (self.skip_src_frames as usize).min(frames);
            self.skip_src_frames -= s as u64;
            start = s;
        }
        if ch <= 2 && buf.num_planes() == ch {
            if let Some(rs) = self.resampler.as_mut() {
                // Mono or stereo into the polyphase resampler: the planes go straight into
                // its input history, with no interleaved copy (and no buffer for one).
                let part = buf.slice(start..);
                let pushed = rs.push_planar(frames - start, |l, r| {
                    if ch == 1 {
                        part.copy_to_slice_planar::<f32, _>(&mut [&mut *l]);
                        r.copy_from_slice(l);
                    } else {
                        part.copy_to_slice_planar::<f32, _>(&mut [l, r]);
                    }
                });
                if pushed {
                    return Ok(());
                }
            }
        }
        self.inter.resize(frames * ch, 0.0);
        buf.copy_to_slice_interleaved(&mut self.inter[..]);
        let src = &self.inter[start * ch..];
        match &mut self.resampler {
            None => {
                to_stereo(src, ch, &mut self.stereo);
            }
            Some(rs) => {
                rs.push_interleaved(src, ch);
                if !rs.is_polyphase() {
                    rs.drain_into(&mut self.stereo, false)?;
                }
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), DecodeError> {
        self.ended = true;
        if let Some(rs) = &mut self.resampler {
            if !rs.finish_in_place() {
                rs.drain_into(&mut self.stereo, true)?;
            }
        }
        Ok(())
    }

    /// Seeks to `ms` (accurately: audio before it is decoded and dropped).
    pub fn seek(&mut self, ms: i64) -> Result<(), DecodeError> {
        self.stereo.clear();
        self.out_pos = 0;
        self.decoder.reset();
        if let Some(rs) = &mut self.resampler {
            rs.reset();
        }
        match self.demux.seek(ms)? {
            Some((required, actual)) => {
                self.ended = false;
                let diff = required.saturating_sub(actual);
                // Timestamps are in the track's time base; convert the gap to frames.
                self.skip_src_frames = match self.demux.time_base {
                    Some(tb) => {
                        let t = tb.calc_time_saturating(symphonia::core::units::Timestamp::new(
                            diff.min(i64::MAX as u64) as i64,
                        ));
                        (t.as_secs_f64() * self.rate as f64).round() as u64
                    }
                    None => diff,
                };
            }
            None => self.ended = true,
        }
        Ok(())
    }
}

/// Mixes interleaved audio of `ch` channels to interleaved stereo, appending to `out`.
pub fn to_stereo(src: &[f32], ch: usize, out: &mut Vec<f32>) {
    match ch {
        1 => {
            for &s in src {
                out.push(s);
                out.push(s);
            }
        }
        2 => out.extend_from_slice(src),
        _ => {
            for f in src.chunks_exact(ch) {
                out.push(f[0]);
                out.push(f[1]);
            }
        }
    }
}

/// An Opus track: packets only, decoding happens on the encode side when needed.
pub struct OpusDemuxer {
    demux: Demux,
    channels: usize,
    /// After a seek: skip packets that end before this source timestamp.
    skip_until: u64,
    /// After a segmented (HLS) seek: skip this much source time counted from the first
    /// packet of the restarted demuxer, whose timestamps may carry on from the stream's
    /// start (Ogg granule positions) rather than restart at zero.
    skip_from_first: Option<u64>,
    ended: bool,
}

impl OpusDemuxer {
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Demuxes up to `max_packets` packets into `ring`, stopping when it is full.
    pub fn fill(
        &mut self,
        ring: &mut Producer<OpusPacket>,
        max_packets: usize,
    ) -> Result<Fill, DecodeError> {
        let mut fill = Fill::default();
        for _ in 0..max_packets {
            if self.ended {
                fill.eof = true;
                return Ok(fill);
            }
            if ring.is_full() {
                fill.full = true;
                return Ok(fill);
            }
            let packet = match self.demux.next_packet() {
                Ok(Some(p)) => p,
                Ok(None) | Err(SymError::ResetRequired) => {
                    self.ended = true;
                    continue;
                }
                Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    self.ended = true;
                    continue;
                }
                Err(e) => return Err(sym_err(e)),
            };
            if packet.track_id != self.demux.track_id || packet.data.is_empty() {
                continue;
            }
            if let Some(rel) = self.skip_from_first.take() {
                self.skip_until = (packet.pts.get().max(0) as u64).saturating_add(rel);
            }
            if self.skip_until > 0 && self.ends_before_skip(&packet) {
                continue;
            }
            if packet.data.len() > MAX_OPUS_SOURCE_PACKET {
                return Err(DecodeError::PacketTooLarge(packet.data.len()));
            }
            let mut slot = OpusPacket::EMPTY;
            slot.data[..packet.data.len()].copy_from_slice(&packet.data);
            slot.len = packet.data.len() as u16;
            if ring.push(slot).is_err() {
                fill.full = true;
                return Ok(fill);
            }
            fill.pushed += 1;
        }
        Ok(fill)
    }

    /// Whether a packet ends at or before `skip_until` (after a seek). Matroska blocks
    /// without a duration (WebM from YouTube, ffmpeg's SimpleBlocks) report 0: the Opus
    /// packet's own sample count stands in, so a zero duration never makes a packet look
    /// as if it ended where it starts (that dropped every WebM file's first packet).
    fn ends_before_skip(&self, packet: &symphonia::core::packet::Packet) -> bool {
        // Crafted files can carry any timestamp: saturate rather than overflow.
        let pts = packet.pts.get().max(0) as u64;
        let mut dur = packet.dur.get();
        if dur == 0 {
            dur = opus_duration_ts(&packet.data, self.demux.time_base);
        }
        pts.saturating_add(dur) <= self.skip_until
    }

    pub fn seek(&mut self, ms: i64) -> Result<(), DecodeError> {
        match self.demux.seek(ms)? {
            Some((required, actual)) if self.demux.segments.is_some() => {
                self.ended = false;
                self.skip_until = 0;
                self.skip_from_first = Some(required.saturating_sub(actual));
            }
            Some((required, _)) => {
                self.ended = false;
                self.skip_from_first = None;
                self.skip_until = required;
            }
            None => self.ended = true,
        }
        Ok(())
    }
}

/// An Opus packet's length in the track's time base (0 when either is unknown).
fn opus_duration_ts(packet: &[u8], time_base: Option<TimeBase>) -> u64 {
    let Ok(samples) = opus2::packet::get_nb_samples(packet, OUT_RATE) else {
        return 0;
    };
    let Some(tb) = time_base else {
        return samples as u64;
    };
    Time::try_from_secs_f64(samples as f64 / f64::from(OUT_RATE))
        .and_then(|t| tb.calc_timestamp(t))
        .map_or(0, |ts| ts.get().max(0) as u64)
}
