//! An MPEG audio (MP3) demuxer that reads a track's source through a 4 KiB buffer.
//!
//! symphonia's own demuxer reads through a `MediaSourceStream`, whose 64 KiB ring was the
//! largest buffer a playing MP3 player had (the read-ahead already buffers the network), and
//! it is only ever used to look back a few frames. This reader produces the same packets
//! (timestamps, LAME gapless trimming, Xing/Info and VBRI frames dropped) and seeks the same
//! way (accurately, restarting from the first frame for a backward seek, and landing up to
//! four frames early so the Layer III bit reservoir is primed), keeping only the bytes such
//! a landing can need.
//!
//! It differs from symphonia's in two ways, both on purpose: the stream's length is not
//! estimated from the bit rate when no tag gives it (symphonia trims the last packets to
//! that estimate, cutting real audio off a CBR file whose estimate is short; the player
//! knows the length from the load-time probe), and trailing tags are not read (two extra
//! range requests to a file's end per play, for metadata nothing uses).

use std::io::{self, Read, Seek, SeekFrom};

use symphonia::core::audio::{Channels, Position};
use symphonia::core::codecs::audio::AudioCodecParameters;
use symphonia::core::codecs::CodecParameters;
use symphonia::core::errors::{seek_error, Result as SymResult, SeekErrorKind};
use symphonia::core::formats::{SeekedTo, Track};
use symphonia::core::io::MediaSource;
use symphonia::core::packet::{Packet, PacketBuilder, PacketRef};
use symphonia::core::units::{Duration, Time, Timestamp};

use super::mpa::{self, FrameHeader, HEADER_LEN, MAX_FRAME_LEN};
use super::replay::Replay;

/// The buffer while playing: a whole frame and the next header fit.
const BUF_LEN: usize = 4096;
/// Bytes a seek keeps behind the frame it is looking at. It lands on the oldest of up to
/// four earlier frames that hold the target frame's reservoir (`main_data_begin` ≤ 511
/// bytes back), which starts at most one frame before those 511 bytes.
const SEEK_KEEP: usize = 511 + MAX_FRAME_LEN + 2 * HEADER_LEN;
/// Most bytes of leading tags read through on a source that cannot seek (cover art is a
/// few hundred KiB).
const MAX_TAGS_READ: u64 = 16 << 20;
/// Most bytes a refill reads ahead of what the demuxer asked for (`read_extra`).
const READ_EXTRA: usize = 1024;
/// Earlier frames a seek may land on (as symphonia's demuxer).
const REF_FRAMES: usize = 4;
/// How far into the stream the first frame is looked for: a radio stream joined mid-frame
/// starts with the rest of one (the buffer grows for the look, once).
const SNIFF_BYTES: usize = 4096;

pub struct MpaReader {
    src: Box<dyn MediaSource>,
    buf: Vec<u8>,
    /// Unread bytes are `buf[start..end]`; `buf[0]` is at stream position `base`.
    start: usize,
    end: usize,
    base: u64,
    /// Bytes before `start` that a refill keeps (a seek's look-back).
    keep: usize,
    /// Most bytes a refill reads beyond those asked for: few, because bytes here are out of
    /// the read-ahead's sight, which decides when the track may decode (0 while sniffing:
    /// what a rejected stream gave is all read again).
    read_extra: usize,
    eof: bool,
    track: Track,
    first_packet_pos: u64,
    next_ts: Timestamp,
    /// Where the audio ends (LAME's padding trimmed), when a tag says.
    end_ts: Option<Timestamp>,
}

/// What [`MpaReader::open`] found.
pub enum Sniffed {
    Mpa(Box<MpaReader>),
    /// Not MPEG audio: the same stream, from where it was, for another demuxer.
    Other(Replay),
}

impl MpaReader {
    /// For a source that says it is MPEG audio: skips leading ID3v2 tags and looks for the
    /// first frame within a few KiB. Anything else (a mislabelled file) comes back unread,
    /// as `Sniffed::Other`.
    pub fn open(src: Box<dyn MediaSource>) -> io::Result<Sniffed> {
        let mut r = MpaReader {
            src,
            buf: vec![0; BUF_LEN],
            start: 0,
            end: 0,
            base: 0,
            keep: 0,
            read_extra: 0,
            eof: false,
            track: Track::new(0),
            first_packet_pos: 0,
            next_ts: Timestamp::new(0),
            end_ts: None,
        };
        // Where the stream is now (the demuxer may be restarted mid-stream: HLS).
        r.base = r.src.stream_position().unwrap_or(0);
        r.skip_id3v2()?;
        let Some(offset) = r.find_first_frame()? else {
            return Ok(Sniffed::Other(r.into_replay()));
        };
        r.start += offset;
        r.read_extra = READ_EXTRA;
        r.shrink(0);
        r.read_stream_info()?;
        Ok(Sniffed::Mpa(Box::new(r)))
    }

    pub fn track(&self) -> &Track {
        &self.track
    }

    /// The source, for a restart elsewhere in it (HLS seeks); what was buffered is dropped.
    pub fn into_source(self) -> Box<dyn MediaSource> {
        self.src
    }

    fn into_replay(self) -> Replay {
        let pos = self.pos();
        Replay::new(self.buf[self.start..self.end].to_vec(), pos, self.src)
    }

    fn pos(&self) -> u64 {
        self.base + self.start as u64
    }

    /// Makes `n` bytes available at `start`; false when the stream ends first.
    fn want(&mut self, n: usize) -> io::Result<bool> {
        while self.end - self.start < n {
            if self.eof {
                return Ok(false);
            }
            if self.end == self.buf.len() || self.buf.len() - self.start < n {
                self.compact(n);
            }
            let most = (self.start + n + self.read_extra).min(self.buf.len());
            match self.src.read(&mut self.buf[self.end..most]) {
                Ok(0) => self.eof = true,
                Ok(got) => self.end += got,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// Moves the unread bytes (and `keep` before them) to the front, growing the buffer
    /// when `n` bytes would not fit.
    fn compact(&mut self, n: usize) {
        let from = self.start - self.keep.min(self.start);
        if from > 0 {
            self.buf.copy_within(from..self.end, 0);
            self.base += from as u64;
            self.start -= from;
            self.end -= from;
        }
        if self.start + n > self.buf.len() {
            self.buf.resize((self.start + n).next_power_of_two(), 0);
        } else {
            self.shrink(n);
        }
    }

    /// Drops bytes (and moves the source) so the next read is at `pos`.
    fn jump(&mut self, pos: u64) -> io::Result<()> {
        if pos >= self.base && pos <= self.base + self.end as u64 {
            self.start = (pos - self.base) as usize;
            return Ok(());
        }
        let at = self.src.seek(SeekFrom::Start(pos))?;
        if at != pos {
            return Err(io::Error::other("the source could not seek there"));
        }
        self.base = pos;
        self.start = 0;
        self.end = 0;
        self.eof = false;
        Ok(())
    }

    /// Skips `n` bytes: through the buffer, then by seeking the source (a large tag, such as
    /// one with cover art, is not downloaded) or by reading when it cannot seek.
    fn skip(&mut self, n: u64) -> io::Result<()> {
        let buffered = (self.end - self.start) as u64;
        if n <= buffered {
            self.start += n as usize;
            return Ok(());
        }
        let target = self.pos() + n;
        if self.src.is_seekable() {
            return self.jump(target);
        }
        self.start = self.end;
        while self.pos() < target {
            let step = (target - self.pos()).min(BUF_LEN as u64) as usize;
            if !self.want(1)? {
                return Ok(());
            }
            self.start += step.min(self.end - self.start);
        }
        Ok(())
    }

    /// Skips leading ID3v2 tags. On a source that cannot seek they are read through, so
    /// their size is capped: a stream claiming a 256 MiB tag would otherwise be read that
    /// far before anything plays.
    fn skip_id3v2(&mut self) -> io::Result<()> {
        let mut read_through = 0u64;
        while self.want(10)? {
            let Some(n) = mpa::id3v2_len(&self.buf[self.start..self.end]) else {
                break;
            };
            if !self.src.is_seekable() {
                read_through += n;
                if read_through > MAX_TAGS_READ {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("ID3v2 tags of over {} MiB", MAX_TAGS_READ >> 20),
                    ));
                }
            }
            self.skip(n)?;
        }
        Ok(())
    }

    /// The offset of the first frame that the next frame's header confirms (or that ends
    /// the stream): 0 for a plain MP3, a little further for a radio stream joined
    /// mid-frame; `None` when this is not MPEG audio after all.
    fn find_first_frame(&mut self) -> io::Result<Option<usize>> {
        // Usually right at the start: only that frame and the next header are read.
        if self.want(HEADER_LEN)? {
            if let Some(h) = mpa::parse(word_at(&self.buf[self.start..self.end], 0)) {
                self.want(h.frame_len + HEADER_LEN)?;
                if self.confirmed(0, &h) {
                    return Ok(Some(0));
                }
            }
        }
        // Best effort: a short stream is looked at whole.
        self.want(SNIFF_BYTES + MAX_FRAME_LEN + HEADER_LEN)?;
        let unread = self.end - self.start;
        for i in 0..SNIFF_BYTES.min(unread.saturating_sub(HEADER_LEN - 1)) {
            let found = mpa::parse(word_at(&self.buf[self.start..self.end], i));
            if found.is_some_and(|h| self.confirmed(i, &h)) {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }

    /// Whether the frame at unread offset `i` is followed by a matching header (or by the
    /// stream's end).
    fn confirmed(&self, i: usize, h: &FrameHeader) -> bool {
        let unread = &self.buf[self.start..self.end];
        let next = i + h.frame_len;
        if next + HEADER_LEN <= unread.len() {
            h.is_similar(word_at(unread, next))
        } else {
            self.eof
        }
    }

    /// Reads the first frame: the track's parameters, and a Xing/Info or VBRI tag's frame
    /// count and gapless delay and padding (the tag's frame is not audio and is skipped).
    fn read_stream_info(&mut self) -> io::Result<()> {
        let Some((h, len)) = self.next_frame(true)? else {
            return Err(io::ErrorKind::UnexpectedEof.into());
        };
        let mut params = AudioCodecParameters::new();
        let positions = if h.mono {
            Position::FRONT_LEFT
        } else {
            Position::FRONT_LEFT | Position::FRONT_RIGHT
        };
        params
            .for_codec(h.codec())
            .with_sample_rate(h.sample_rate)
            .with_channels(Channels::Positioned(positions))
            .with_max_frames_per_packet(h.samples());
        let mut track = Track::new(0);
        track.with_codec_params(CodecParameters::Audio(params));
        let frame = &self.buf[self.start..self.start + len];
        if let Some(info) = mpa::info_tag(frame, &h) {
            if let (Some(delay), Some(padding)) = (info.delay, info.padding) {
                track.with_delay(delay).with_padding(padding);
            }
            if let Some(frames) = info.frames {
                let all = u64::from(frames) * h.samples();
                let trimmed = u64::from(info.delay.unwrap_or(0) + info.padding.unwrap_or(0));
                track.with_num_frames(all.saturating_sub(trimmed));
            }
            self.start += len;
        } else if let Some(frames) = mpa::vbri_frames(frame, &h) {
            track.with_num_frames(u64::from(frames) * h.samples());
            self.start += len;
        }
        if let Some(n) = track.num_frames {
            track.with_duration(Duration::new(n));
            self.end_ts = Duration::new(n).timestamp_from(Timestamp::new(0));
        }
        self.next_ts = Timestamp::new(-i64::from(track.delay.unwrap_or(0)));
        self.first_packet_pos = self.pos();
        self.track = track;
        Ok(())
    }

    /// Moves to the next plausible frame header; `None` at the end.
    fn sync(&mut self) -> io::Result<Option<FrameHeader>> {
        loop {
            if !self.want(HEADER_LEN)? {
                return Ok(None);
            }
            let unread = &self.buf[self.start..self.end];
            let scanned = unread.len() - (HEADER_LEN - 1);
            for i in 0..scanned {
                if let Some(h) = mpa::parse(word_at(unread, i)) {
                    self.start += i;
                    return Ok(Some(h));
                }
            }
            self.start += scanned;
        }
    }

    /// Finds the next whole frame, left unread at `start` (with its length); `None` at the
    /// end. `strict`: a frame whose next header does not match is a false sync.
    fn next_frame(&mut self, strict: bool) -> io::Result<Option<(FrameHeader, usize)>> {
        loop {
            let Some(h) = self.sync()? else {
                return Ok(None);
            };
            let len = h.frame_len;
            if !self.want(len)? {
                // A truncated last frame: the stream has ended.
                return Ok(None);
            }
            if strict
                && self.want(len + HEADER_LEN)?
                && !h.is_similar(word_at(&self.buf[self.start..self.end], len))
            {
                self.start += 1;
                continue;
            }
            return Ok(Some((h, len)));
        }
    }

    /// The next audio frame as a packet borrowing this reader's buffer (valid until the
    /// next call: no allocation per packet), trimmed for gapless playback; `None` at the
    /// end.
    pub fn next_packet_ref(&mut self) -> SymResult<Option<PacketRef<'_>>> {
        let Some((at, len, pts, dur)) = self.next_audio_frame()? else {
            return Ok(None);
        };
        Ok(Some(
            PacketBuilder::new()
                .track_id(0)
                .pts(pts)
                .trimmed_dur(dur, self.end_ts)
                .data_by_ref(&self.buf[at..at + len])
                .build_packet_ref(),
        ))
    }

    /// [`MpaReader::next_packet_ref`] as an owned packet.
    pub fn next_packet(&mut self) -> SymResult<Option<Packet>> {
        let Some((at, len, pts, dur)) = self.next_audio_frame()? else {
            return Ok(None);
        };
        Ok(Some(
            PacketBuilder::new()
                .track_id(0)
                .pts(pts)
                .trimmed_dur(dur, self.end_ts)
                .data(Box::<[u8]>::from(&self.buf[at..at + len]))
                .build(),
        ))
    }

    /// Moves past the next audio frame and returns where it is in the buffer (offset,
    /// length), its timestamp and duration; `None` at the end.
    fn next_audio_frame(&mut self) -> io::Result<Option<(usize, usize, Timestamp, Duration)>> {
        loop {
            let Some((h, len)) = self.next_frame(false)? else {
                return Ok(None);
            };
            let at = self.start;
            let frame = &self.buf[at..at + len];
            self.start += len;
            // A tag frame in the middle (streams cut and joined): not audio.
            if mpa::info_tag(frame, &h).is_some() || mpa::vbri_frames(frame, &h).is_some() {
                continue;
            }
            let pts = self.next_ts;
            let dur = Duration::new(h.samples());
            let Some(next) = pts.checked_add(dur) else {
                return Ok(None);
            };
            self.next_ts = next;
            return Ok(Some((at, len, pts, dur)));
        }
    }

    /// Seeks accurately to `time`: the next packets start at most four frames before the one
    /// holding it (the returned `actual_ts`), and the caller drops audio up to `required_ts`.
    pub fn seek(&mut self, time: Time) -> SymResult<SeekedTo> {
        let Some(required) = self.track.time_base.and_then(|tb| tb.calc_timestamp(time)) else {
            return seek_error(SeekErrorKind::OutOfRange);
        };
        let delay = self.track.delay.unwrap_or(0);
        let min_ts = Timestamp::new(-i64::from(delay));
        let max_ts = self.track.num_frames.and_then(|n| {
            min_ts.checked_add(Duration::new(
                n + u64::from(delay + self.track.padding.unwrap_or(0)),
            ))
        });
        if required < min_ts || max_ts.is_some_and(|max| required > max) {
            return seek_error(SeekErrorKind::OutOfRange);
        }
        if required < self.next_ts {
            if !self.src.is_seekable() {
                return seek_error(SeekErrorKind::ForwardOnly);
            }
            self.jump(self.first_packet_pos)?;
            self.next_ts = min_ts;
        }
        self.keep = SEEK_KEEP;
        let landed = self.scan_to(required);
        self.keep = 0;
        self.shrink(0);
        landed
    }

    fn scan_to(&mut self, required: Timestamp) -> SymResult<SeekedTo> {
        let mut seen = [(0u64, Timestamp::new(0)); REF_FRAMES];
        let mut n = 0usize;
        loop {
            let Some(h) = self.sync()? else {
                return seek_error(SeekErrorKind::OutOfRange);
            };
            let pos = self.pos();
            seen[n % REF_FRAMES] = (pos, self.next_ts);
            n += 1;
            match self.next_ts.checked_add(Duration::new(h.samples())) {
                Some(next) if next <= required => {
                    if !self.want(h.frame_len)? {
                        return seek_error(SeekErrorKind::OutOfRange);
                    }
                    self.start += h.frame_len;
                    self.next_ts = next;
                }
                _ => {
                    self.want(HEADER_LEN + 4)?;
                    let reservoir = u64::from(h.main_data_begin(&self.buf[self.start..self.end]));
                    let mut land = seen[(n - 1) % REF_FRAMES];
                    if reservoir > 0 {
                        for back in 0..n.min(REF_FRAMES) {
                            land = seen[(n - 1 - back) % REF_FRAMES];
                            if pos - land.0 >= reservoir {
                                break;
                            }
                        }
                    }
                    // Kept bytes always reach that far; if not, start at the frame itself.
                    if land.0 < self.base {
                        land = (pos, self.next_ts);
                    }
                    self.start = (land.0 - self.base) as usize;
                    self.next_ts = land.1;
                    return Ok(SeekedTo {
                        track_id: 0,
                        required_ts: required,
                        actual_ts: land.1,
                    });
                }
            }
        }
    }

    /// Back to the playing buffer size after a sniff or a seek grew it, once the unread
    /// bytes and `n` more fit and no look-back is kept.
    fn shrink(&mut self, n: usize) {
        if self.keep > 0 || self.buf.len() <= BUF_LEN || (self.end - self.start).max(n) > BUF_LEN {
            return;
        }
        self.buf.copy_within(self.start..self.end, 0);
        self.base += self.start as u64;
        self.end -= self.start;
        self.start = 0;
        self.buf.truncate(BUF_LEN);
        self.buf.shrink_to_fit();
    }
}

fn word_at(b: &[u8], i: usize) -> u32 {
    u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use symphonia::core::formats::probe::Hint;
    use symphonia::core::formats::{FormatOptions, FormatReader, SeekMode, SeekTo};
    use symphonia::core::io::MediaSourceStream;
    use symphonia::core::meta::MetadataOptions;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    fn ours(bytes: &[u8]) -> MpaReader {
        match MpaReader::open(Box::new(io::Cursor::new(bytes.to_vec()))).unwrap() {
            Sniffed::Mpa(r) => *r,
            Sniffed::Other(_) => panic!("not recognised as MPEG audio"),
        }
    }

    fn symphonias(bytes: &[u8]) -> Box<dyn FormatReader> {
        let mss = MediaSourceStream::new(
            Box::new(io::Cursor::new(bytes.to_vec())),
            Default::default(),
        );
        let mut hint = Hint::new();
        hint.with_extension("mp3");
        symphonia::default::get_probe()
            .probe(
                &hint,
                mss,
                FormatOptions::default(),
                MetadataOptions::default(),
            )
            .unwrap()
    }

    type Seen = (i64, u64, u64, u64, Box<[u8]>);

    fn seen(p: Packet) -> Seen {
        (
            p.pts.get(),
            p.dur.get(),
            p.trim_start.get(),
            p.trim_end.get(),
            p.data,
        )
    }

    fn drain_ours(r: &mut MpaReader, most: usize) -> Vec<Seen> {
        let mut v = Vec::new();
        while v.len() < most {
            match r.next_packet().unwrap() {
                Some(p) => v.push(seen(p)),
                None => break,
            }
        }
        v
    }

    fn drain_theirs(r: &mut dyn FormatReader, most: usize) -> Vec<Seen> {
        let mut v = Vec::new();
        while v.len() < most {
            match r.next_packet().unwrap() {
                Some(p) => v.push(seen(p)),
                None => break,
            }
        }
        v
    }

    /// The fixture's frames looped `n` times, its Xing frame dropped (`perf/mp3_loop.rs`).
    fn looped(n: usize) -> Vec<u8> {
        let one = fixture("sine440_44k_stereo_2s_xing.mp3");
        let first = mpa::parse(word_at(&one, 0)).unwrap().frame_len;
        one[first..].repeat(n)
    }

    #[test]
    fn packets_match_symphonias_demuxer() {
        // A LAME-tagged file (gapless trims), one with an ID3v2 tag, and a bare CBR file.
        for name in [
            "sine440_44k_stereo_2s_xing.mp3",
            "sine440_48k_stereo_2s_id3.mp3",
            "sine440_44k_mono_2s_bare.mp3",
        ] {
            let bytes = fixture(name);
            let mut a = ours(&bytes);
            let mut b = symphonias(&bytes);
            let (ta, tb) = (a.track().clone(), b.tracks()[0].clone());
            assert_eq!(
                (ta.delay, ta.padding, ta.time_base),
                (tb.delay, tb.padding, tb.time_base)
            );
            let pa = drain_ours(&mut a, usize::MAX);
            let pb = drain_theirs(b.as_mut(), usize::MAX);
            assert!(pa.len() > 60, "{name}: {} packets", pa.len());
            if tb.num_frames.is_some() && ta.num_frames.is_none() {
                // symphonia estimated the length from the bit rate and trims to it; ours
                // plays every frame. Everything else is the same.
                assert!(pa.len() >= pb.len(), "{name}");
                let strip = |v: &[Seen]| -> Vec<(i64, Box<[u8]>)> {
                    v.iter().map(|s| (s.0, s.4.clone())).collect()
                };
                assert_eq!(strip(&pa[..pb.len()]), strip(&pb), "{name}");
            } else {
                assert_eq!(ta.num_frames, tb.num_frames, "{name}");
                assert!(pa == pb, "{name}: packets differ");
            }
        }
    }

    #[test]
    fn seeks_land_where_symphonias_demuxer_lands() {
        // A long CBR stream, and a LAME-tagged file (timestamps start at minus its delay).
        let cases = [
            (looped(4), vec![0.0, 0.013, 0.5, 1.0, 3.3, 6.5, 2.0, 0.2]),
            (
                fixture("sine440_44k_stereo_2s_xing.mp3"),
                vec![0.0, 0.01, 0.3, 1.2, 1.95, 0.7],
            ),
        ];
        for (bytes, times) in cases {
            for secs in times {
                let mut a = ours(&bytes);
                let mut b = symphonias(&bytes);
                // Play a little first, so a seek back restarts from the first frame.
                drain_ours(&mut a, 40);
                drain_theirs(b.as_mut(), 40);
                let time = Time::try_from_secs_f64(secs).unwrap();
                let sa = a.seek(time).unwrap();
                let sb = b
                    .seek(
                        SeekMode::Accurate,
                        SeekTo::Time {
                            time,
                            track_id: None,
                        },
                    )
                    .unwrap_or_else(|e| panic!("symphonia, {secs} s: {e}"));
                assert_eq!(
                    (sa.required_ts, sa.actual_ts),
                    (sb.required_ts, sb.actual_ts),
                    "seek to {secs} s"
                );
                assert!(
                    drain_ours(&mut a, 8) == drain_theirs(b.as_mut(), 8),
                    "packets after a seek to {secs} s"
                );
            }
        }
        // Past the end.
        let mut a = ours(&looped(4));
        assert!(a.seek(Time::try_from_secs_f64(60.0).unwrap()).is_err());
    }

    #[test]
    fn a_seek_keeps_only_the_look_back_it_needs() {
        let bytes = looped(4);
        let mut a = ours(&bytes);
        assert_eq!(a.buf.len(), BUF_LEN);
        a.seek(Time::try_from_secs_f64(6.0).unwrap()).unwrap();
        drain_ours(&mut a, 10);
        assert_eq!(
            a.buf.len(),
            BUF_LEN,
            "the seek's larger buffer is given back"
        );
        // A stream joined mid-frame is looked at further, then back to the playing size.
        let mut b = ours(&bytes[1000..]);
        drain_ours(&mut b, 100);
        assert_eq!(b.buf.len(), BUF_LEN);
    }

    #[test]
    fn a_stream_joined_mid_frame_starts_at_its_first_whole_frame() {
        let whole = looped(1);
        let f0 = mpa::parse(word_at(&whole, 0)).unwrap().frame_len;
        let f1 = mpa::parse(word_at(&whole, f0)).unwrap().frame_len;
        let mut a = ours(&whole[f0 / 2..]);
        let first = drain_ours(&mut a, 1).remove(0);
        assert!(*first.4 == whole[f0..f0 + f1]);
    }

    #[test]
    fn mislabelled_files_come_back_unread() {
        for name in ["sine440_48k_stereo_1s.flac", "sine440_44k_stereo_2s.aac"] {
            let bytes = fixture(name);
            let Sniffed::Other(mut replay) =
                MpaReader::open(Box::new(io::Cursor::new(bytes.clone()))).unwrap()
            else {
                panic!("{name} taken for MPEG audio");
            };
            let mut back = Vec::new();
            replay.read_to_end(&mut back).unwrap();
            assert!(back == bytes, "{name}: bytes changed");
        }
    }

    #[test]
    fn id3v2_tags_are_skipped_on_sources_that_cannot_seek() {
        struct Stream(io::Cursor<Vec<u8>>);
        impl Read for Stream {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.0.read(buf)
            }
        }
        impl Seek for Stream {
            fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
                match to {
                    SeekFrom::Current(0) => self.0.seek(to),
                    _ => Err(io::Error::other("not seekable")),
                }
            }
        }
        impl MediaSource for Stream {
            fn is_seekable(&self) -> bool {
                false
            }
            fn byte_len(&self) -> Option<u64> {
                None
            }
        }
        // A 20 KiB tag (cover art) before the audio.
        let mut bytes = b"ID3\x03\x00\x00\x00\x01\x20\x00".to_vec();
        bytes.resize(10 + 0x4000 + 0x1000, 0);
        let audio = looped(1);
        bytes.extend_from_slice(&audio);
        let Sniffed::Mpa(mut a) =
            MpaReader::open(Box::new(Stream(io::Cursor::new(bytes)))).unwrap()
        else {
            panic!("not found after the tag");
        };
        let mut b = ours(&audio);
        assert!(drain_ours(&mut a, usize::MAX) == drain_ours(&mut b, usize::MAX));
        assert!(
            a.seek(Time::try_from_secs_f64(0.0).unwrap()).is_err(),
            "cannot seek back"
        );
    }

    #[test]
    fn damaged_streams_end_or_fail_without_panicking() {
        // Deterministic damage to a tagged file: flipped bytes, stray syncs, cuts.
        let clean = fixture("sine440_44k_stereo_2s_xing.mp3");
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..300 {
            let mut bytes = clean.clone();
            for _ in 0..1 + round % 40 {
                let at = next() as usize % bytes.len();
                bytes[at] = match next() % 3 {
                    0 => 0xff,
                    1 => 0xfb,
                    _ => next() as u8,
                };
            }
            if round % 3 == 0 {
                bytes.truncate(next() as usize % bytes.len());
            }
            let Ok(Sniffed::Mpa(mut r)) = MpaReader::open(Box::new(io::Cursor::new(bytes))) else {
                continue;
            };
            let packets = drain_ours(&mut r, 10_000).len();
            assert!(packets < 10_000, "round {round}: no end");
            let _ = r.seek(Time::try_from_secs_f64(0.5).unwrap());
            let _ = drain_ours(&mut r, 10_000);
        }
    }

    #[test]
    fn a_huge_tag_on_a_stream_that_cannot_seek_fails_at_once() {
        struct Endless;
        impl Read for Endless {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                buf.fill(0);
                Ok(buf.len())
            }
        }
        // A 256 MiB tag (the largest a header can claim), then zeros forever.
        let head = b"ID3\x04\x00\x00\x7f\x7f\x7f\x7f".to_vec();
        let src = io::Cursor::new(head).chain(Endless);
        struct Chained<R>(R);
        impl<R: Read> Read for Chained<R> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.0.read(buf)
            }
        }
        impl<R> Seek for Chained<R> {
            fn seek(&mut self, _: SeekFrom) -> io::Result<u64> {
                Err(io::Error::other("not seekable"))
            }
        }
        impl<R: Read + Send + Sync> MediaSource for Chained<R> {
            fn is_seekable(&self) -> bool {
                false
            }
            fn byte_len(&self) -> Option<u64> {
                None
            }
        }
        let err = match MpaReader::open(Box::new(Chained(src))) {
            Err(e) => e,
            Ok(_) => panic!("opened"),
        };
        assert!(err.to_string().contains("ID3v2"), "{err}");
    }
}
