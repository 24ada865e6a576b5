//! The Lavalink `filters` object: parameters as the client sent them.

/// A whole filter set. `None` = the filter is not configured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filters {
    pub volume: Option<f32>,
    /// Band objects exactly as received (order and duplicates kept for echoing back).
    pub equalizer: Option<Vec<Band>>,
    pub karaoke: Option<Karaoke>,
    pub timescale: Option<Timescale>,
    pub tremolo: Option<Tremolo>,
    pub vibrato: Option<Vibrato>,
    pub distortion: Option<Distortion>,
    pub rotation: Option<Rotation>,
    pub channel_mix: Option<ChannelMix>,
    pub low_pass: Option<LowPass>,
    /// Plugin name → arbitrary JSON; echoed only when non-empty.
    pub plugin_filters: serde_json::Map<String, serde_json::Value>,
    // Top-level extras with NodeLink's names (plugins.md §7.3 B); see `crate::extra`.
    pub echo: Option<crate::extra::Echo>,
    pub high_pass: Option<crate::extra::HighPass>,
    pub chorus: Option<crate::extra::Chorus>,
    pub flanger: Option<crate::extra::Flanger>,
    pub phaser: Option<crate::extra::Phaser>,
    pub compressor: Option<crate::extra::Compressor>,
    pub spatial: Option<crate::extra::Spatial>,
    pub reverb: Option<crate::extra::Reverb>,
    /// LavaDSPX's filters as enabled by `plugin_filters` (read from it by `from_json`).
    pub dspx: crate::extra::DspxFilters,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    pub band: i64,
    pub gain: f32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Karaoke {
    pub level: f32,
    pub mono_level: f32,
    pub filter_band: f32,
    pub filter_width: f32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timescale {
    pub speed: f64,
    pub pitch: f64,
    pub rate: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tremolo {
    pub frequency: f32,
    pub depth: f32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Vibrato {
    pub frequency: f32,
    pub depth: f32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Distortion {
    pub sin_offset: f32,
    pub sin_scale: f32,
    pub cos_offset: f32,
    pub cos_scale: f32,
    pub tan_offset: f32,
    pub tan_scale: f32,
    pub offset: f32,
    pub scale: f32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rotation {
    pub rotation_hz: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChannelMix {
    pub left_to_left: f32,
    pub left_to_right: f32,
    pub right_to_left: f32,
    pub right_to_right: f32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LowPass {
    pub smoothing: f32,
}

/// Number of equalizer bands (Lavalink's 15-band graphic EQ).
pub const BANDS: usize = 15;

impl Default for Karaoke {
    fn default() -> Self {
        Karaoke {
            level: 1.0,
            mono_level: 1.0,
            filter_band: 220.0,
            filter_width: 100.0,
        }
    }
}

impl Default for Timescale {
    fn default() -> Self {
        Timescale {
            speed: 1.0,
            pitch: 1.0,
            rate: 1.0,
        }
    }
}

impl Default for Tremolo {
    fn default() -> Self {
        Tremolo {
            frequency: 2.0,
            depth: 0.5,
        }
    }
}

impl Default for Vibrato {
    fn default() -> Self {
        Vibrato {
            frequency: 2.0,
            depth: 0.5,
        }
    }
}

impl Default for Distortion {
    fn default() -> Self {
        Distortion {
            sin_offset: 0.0,
            sin_scale: 1.0,
            cos_offset: 0.0,
            cos_scale: 1.0,
            tan_offset: 0.0,
            tan_scale: 1.0,
            offset: 0.0,
            scale: 1.0,
        }
    }
}

impl Default for Rotation {
    fn default() -> Self {
        Rotation { rotation_hz: 0.0 }
    }
}

impl Default for ChannelMix {
    fn default() -> Self {
        ChannelMix {
            left_to_left: 1.0,
            left_to_right: 0.0,
            right_to_left: 0.0,
            right_to_right: 1.0,
        }
    }
}

impl Default for LowPass {
    fn default() -> Self {
        LowPass { smoothing: 20.0 }
    }
}

/// The 15 band gains an equalizer list amounts to: later entries for a band overwrite
/// earlier ones (as Lavalink), bands outside 0–14 are ignored (the parser rejects them).
pub fn equalizer_gains(bands: &[Band]) -> [f32; BANDS] {
    let mut g = [0.0f32; BANDS];
    for b in bands {
        if (0..BANDS as i64).contains(&b.band) {
            g[b.band as usize] = b.gain;
        }
    }
    g
}
