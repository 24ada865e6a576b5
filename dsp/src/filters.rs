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
