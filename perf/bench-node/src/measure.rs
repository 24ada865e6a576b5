//! Figures from what the fake voice server recorded: pacing lateness and delivery per
//! player, and per-frame features of decoded audio for the change tests.

use crate::fakevoice::Arrival;
use crate::media::{HIGH_HZ, LOW_HZ, RATE};

pub const FRAME_NS: i64 = 20_000_000;
/// Lateness is measured against the best (earliest) schedule seen over this many previous
/// packets: jitter and a slipping sender show, while one slot a node skipped (it counts as
/// an undelivered frame) stops counting as lateness after a second.
const ANCHOR_PACKETS: usize = 50;

/// Lateness in ms of each packet after the first: arrival minus its slot on the 20 ms grid
/// (slot from the RTP sequence number), the grid anchored at the earliest offset within the
/// previous [`ANCHOR_PACKETS`] packets.
pub fn lateness_ms(packets: &[Arrival]) -> Vec<f64> {
    let Some(first) = packets.first() else {
        return Vec::new();
    };
    let mut index: i64 = 0;
    let mut prev_seq = first.seq;
    let mut offsets = Vec::with_capacity(packets.len());
    for (i, p) in packets.iter().enumerate() {
        if i > 0 {
            // Sequence numbers wrap at 16 bits; a reordered packet steps back.
            index += p.seq.wrapping_sub(prev_seq) as i16 as i64;
            prev_seq = p.seq;
        }
        offsets.push(p.ns - index * FRAME_NS);
    }
    let mut out = Vec::with_capacity(offsets.len());
    for i in 0..offsets.len() {
        let from = i.saturating_sub(ANCHOR_PACKETS);
        let anchor = offsets[from..=i]
            .iter()
            .copied()
            .min()
            .unwrap_or(offsets[i]);
        out.push((offsets[i] - anchor) as f64 / 1e6);
    }
    out
}

/// Nearest-rank percentile of an unsorted sample (`q` in 0..=1).
pub fn percentile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    Some(v[rank - 1])
}

/// p50 / p99 / max.
#[derive(Clone, Copy, Debug, Default)]
pub struct Spread {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

pub fn spread(values: &[f64]) -> Option<Spread> {
    Some(Spread {
        p50: percentile(values, 0.5)?,
        p99: percentile(values, 0.99)?,
        max: values.iter().copied().fold(f64::MIN, f64::max),
    })
}

/// Loudness and pitch of one decoded 20 ms frame.
#[derive(Clone, Copy, Debug)]
pub struct Features {
    pub rms_left: f64,
    pub rms_right: f64,
    /// Frequency of the louder channel from its zero crossings.
    pub hz: f64,
}

pub fn features(stereo: &[i16]) -> Features {
    let n = stereo.len() / 2;
    let rms = |ch: usize| {
        let sum: f64 = stereo
            .iter()
            .skip(ch)
            .step_by(2)
            .map(|&s| (s as f64) * (s as f64))
            .sum();
        (sum / n.max(1) as f64).sqrt()
    };
    let (l, r) = (rms(0), rms(1));
    let ch = usize::from(r > l);
    let samples: Vec<i16> = stereo.iter().skip(ch).step_by(2).copied().collect();
    let crossings = samples
        .windows(2)
        .filter(|w| (w[0] < 0) != (w[1] < 0))
        .count();
    let secs = n as f64 / RATE as f64;
    Features {
        rms_left: l,
        rms_right: r,
        hz: if secs > 0.0 {
            crossings as f64 / 2.0 / secs
        } else {
            0.0
        },
    }
}

/// A frame loud enough to judge (not silence while a node seeks or refills).
pub fn audible(f: &Features) -> bool {
    f.rms_left.max(f.rms_right) > 300.0
}

/// The changes the benchmark applies and how each shows in the audio.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// `volume` 100 → 20: the left channel drops below half its level before the PATCH.
    Volume,
    /// `filters.channelMix` swapping the channels: the quiet right channel turns loud.
    Filter,
    /// `position` into the high tone: the pitch passes the midpoint of the two tones.
    Seek,
}

impl Change {
    pub const ALL: [Change; 3] = [Change::Volume, Change::Filter, Change::Seek];

    pub fn name(self) -> &'static str {
        match self {
            Change::Volume => "volume",
            Change::Filter => "filter",
            Change::Seek => "seek",
        }
    }

    /// Whether frame `f` shows the change, given the left level before the PATCH.
    pub fn shows(self, f: &Features, base_left: f64) -> bool {
        match self {
            Change::Volume => f.rms_left > 0.02 * base_left && f.rms_left < 0.5 * base_left,
            Change::Filter => audible(f) && f.rms_right > f.rms_left,
            Change::Seek => audible(f) && f.hz > (LOW_HZ + HIGH_HZ) / 2.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stereo frames per 20 ms Opus packet, as every node sends them.
    const PACKET_FRAMES: usize = (RATE / 50) as usize;

    fn arr(seq: u16, ms: f64) -> Arrival {
        Arrival {
            seq,
            ns: (ms * 1e6) as i64,
            audio: true,
        }
    }

    #[test]
    fn lateness_follows_the_grid_across_wrap_and_skips() {
        let mut p: Vec<Arrival> = (0..10u16)
            .map(|i| arr(65530u16.wrapping_add(i), i as f64 * 20.0))
            .collect();
        p[4].ns += 3_000_000; // one packet 3 ms late
        let l = lateness_ms(&p);
        assert_eq!(l.len(), 10);
        assert!((l[4] - 3.0).abs() < 1e-9);
        assert!(l.iter().enumerate().all(|(i, x)| i == 4 || x.abs() < 1e-9));
        // A skipped slot: the next 50 packets count 20 ms late, then the anchor moves on.
        let q: Vec<Arrival> = (0..120u16)
            .map(|i| arr(i, i as f64 * 20.0 + if i >= 10 { 20.0 } else { 0.0 }))
            .collect();
        let l = lateness_ms(&q);
        assert!((l[10] - 20.0).abs() < 1e-9);
        assert!(l[119].abs() < 1e-9);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), Some(50.0));
        assert_eq!(percentile(&v, 0.99), Some(99.0));
        assert_eq!(spread(&v).unwrap().max, 100.0);
        assert!(spread(&[]).is_none());
    }

    #[test]
    fn features_tell_the_tones_and_channels_apart() {
        let frame = |hz: f64, l: f64, r: f64| -> Vec<i16> {
            (0..PACKET_FRAMES)
                .flat_map(|n| {
                    let s = (2.0 * std::f64::consts::PI * hz * n as f64 / RATE as f64).sin();
                    [(s * l) as i16, (s * r) as i16]
                })
                .collect()
        };
        let f = features(&frame(400.0, 16_000.0, 4_000.0));
        assert!((f.hz - 400.0).abs() < 60.0, "{}", f.hz);
        assert!(!Change::Filter.shows(&f, f.rms_left));
        assert!(!Change::Seek.shows(&f, f.rms_left));
        let base = f.rms_left;
        assert!(Change::Volume.shows(&features(&frame(400.0, 3_000.0, 800.0)), base));
        assert!(Change::Filter.shows(&features(&frame(400.0, 4_000.0, 16_000.0)), base));
        assert!(Change::Seek.shows(&features(&frame(800.0, 16_000.0, 4_000.0)), base));
        assert!(!Change::Seek.shows(&features(&[0i16; 2 * PACKET_FRAMES]), base));
    }
}
