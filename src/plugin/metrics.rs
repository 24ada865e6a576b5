//! Plugin counters, served by `/metrics` with the core families as
//! `basalt_plugin_<plugin>_…` (Prometheus counters; process-wide, lock-free).

use std::sync::atomic::{AtomicU64, Ordering};

/// Mirror lookups: a provider found the track / the cache had it / nothing found.
pub static MIRROR_FOUND: AtomicU64 = AtomicU64::new(0);
pub static MIRROR_CACHED: AtomicU64 = AtomicU64::new(0);
pub static MIRROR_NOT_FOUND: AtomicU64 = AtomicU64::new(0);
/// Segments SponsorBlock skipped.
pub static SEGMENTS_SKIPPED: AtomicU64 = AtomicU64::new(0);
/// Lyrics lookups with and without a result.
pub static LYRICS_FOUND: AtomicU64 = AtomicU64::new(0);
pub static LYRICS_NOT_FOUND: AtomicU64 = AtomicU64::new(0);

pub fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// One counter family: name, help, samples (label set, value).
pub type Family = (&'static str, &'static str, Vec<(&'static str, f64)>);

/// Every plugin family for the scrape.
pub fn families() -> Vec<Family> {
    let v = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64;
    vec![
        (
            "basalt_plugin_lavasrc_mirror_lookups_total",
            "LavaSrc mirror resolutions by result.",
            vec![
                ("{result=\"found\"}", v(&MIRROR_FOUND)),
                ("{result=\"cached\"}", v(&MIRROR_CACHED)),
                ("{result=\"not_found\"}", v(&MIRROR_NOT_FOUND)),
            ],
        ),
        (
            "basalt_plugin_sponsorblock_segments_skipped_total",
            "SponsorBlock segments skipped.",
            vec![("", v(&SEGMENTS_SKIPPED))],
        ),
        (
            "basalt_plugin_lavalyrics_lookups_total",
            "LavaLyrics lookups by result.",
            vec![
                ("{result=\"found\"}", v(&LYRICS_FOUND)),
                ("{result=\"not_found\"}", v(&LYRICS_NOT_FOUND)),
            ],
        ),
    ]
}
