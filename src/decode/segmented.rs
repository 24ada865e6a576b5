//! Seeking in segmented inputs (HLS VOD, `source::hls`): the demuxers cannot seek in a
//! stream of concatenated segments, so a seek restarts one: the reader jumps to the segment
//! holding the target (by summed `#EXTINF` durations), a fresh demuxer is probed on what
//! follows, and the caller drops decoded audio up to the target. Runs on the helper pool
//! (network I/O), never on a decode worker.

use std::io::{Seek, SeekFrom};

use symphonia::core::formats::probe::Hint;
use symphonia::core::io::MediaSource;
use symphonia::core::units::Time;

use super::{open_format, probe_stream, DecodeError, Demux, Format};
use crate::source::hls::{JumpOnly, SegmentIndex};

/// What a segmented demuxer needs to restart.
pub(super) struct Segmented {
    index: SegmentIndex,
    hint: Hint,
    mpeg_hinted: bool,
}

/// Hides a segmented input's seekability from the demuxer (it must not seek on its own)
/// and keeps what a seek needs.
pub(super) fn wrap(
    reader: Box<dyn MediaSource>,
    index: Option<SegmentIndex>,
    hint: &Hint,
    mpeg_hinted: bool,
) -> (Box<dyn MediaSource>, Option<Segmented>) {
    match index {
        Some(index) if !index.is_empty() => (
            Box::new(JumpOnly(reader)),
            Some(Segmented {
                index,
                hint: hint.clone(),
                mpeg_hinted,
            }),
        ),
        _ => (reader, None),
    }
}

/// `Demux::seek` for segmented inputs: (timestamp to decode up to, where the reader landed),
/// in the new demuxer's time base; None = past the end.
pub(super) fn seek(demux: &mut Demux, ms: i64) -> Result<Option<(u64, u64)>, DecodeError> {
    let Some(seg) = demux.segments.as_ref() else {
        return Ok(None);
    };
    let Some((i, into_ms)) = seg.index.locate(ms.max(0) as u64) else {
        return Ok(None);
    };
    let (hint, mpeg_hinted) = (seg.hint.clone(), seg.mpeg_hinted);
    let Some(format) = demux.format.take() else {
        return Ok(None);
    };
    let io = |e: std::io::Error| DecodeError::Io(e.to_string());
    let jump = SeekFrom::Start(SegmentIndex::jump_to(i));
    // The same stream object carries on; the seek drops what it buffered.
    let format = match format {
        Format::Symphonia(f) => {
            let mut mss = f.into_inner();
            mss.seek(jump).map_err(io)?;
            Format::Symphonia(probe_stream(mss, &hint)?)
        }
        Format::Mpa(r) => {
            let mut src = r.into_source();
            src.seek(jump).map_err(io)?;
            open_format(src, &hint, mpeg_hinted)?
        }
    };
    let track = format.audio_track().ok_or(DecodeError::NoAudioTrack)?;
    demux.track_id = track.id;
    demux.time_base = track.time_base.or(demux.time_base);
    demux.format = Some(format);
    let skip = Time::try_from_secs_f64(into_ms as f64 / 1000.0)
        .and_then(|t| demux.time_base.and_then(|tb| tb.calc_timestamp(t)))
        .map_or(0, |ts| ts.get().max(0) as u64);
    Ok(Some((skip, 0)))
}
