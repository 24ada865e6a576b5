//! `Filters` ⇄ Lavalink JSON (spec §1.2, §7.1).
//!
//! Parse rules mirror Lavalink's kotlinx DTOs: `volume` and `equalizer` are non-nullable
//! (null → error), every other filter object is nullable (null → off), missing inner keys
//! take their defaults, inner keys sent as null are errors, numbers may be integers or
//! decimals, unknown keys are ignored. Where Lavalink would accept a value that only fails
//! later on the playback thread and no neutral reading exists (timescale ≤ 0, equalizer band
//! outside 0–14) we reject it here so the control plane can answer 400 naming the field.

use serde_json::{Map, Number, Value};

use crate::error::FilterError;
use crate::filters::*;

pub(crate) type Obj = Map<String, Value>;

impl Filters {
    /// Parse a Lavalink `filters` object.
    pub fn from_json(v: &Value) -> Result<Filters, FilterError> {
        let root = v.as_object().ok_or_else(|| wrong("filters", "object"))?;
        let mut f = Filters::default();

        if let Some(v) = root.get("volume") {
            f.volume = Some(req_f32(v, "filters.volume")?);
        }
        if let Some(v) = root.get("equalizer") {
            f.equalizer = Some(parse_equalizer(v)?);
        }
        if let Some(o) = opt_obj(root, "karaoke")? {
            let d = Karaoke::default();
            let p = "filters.karaoke";
            f.karaoke = Some(Karaoke {
                level: f32_or(o, "level", d.level, p)?,
                mono_level: f32_or(o, "monoLevel", d.mono_level, p)?,
                filter_band: f32_or(o, "filterBand", d.filter_band, p)?,
                filter_width: f32_or(o, "filterWidth", d.filter_width, p)?,
            });
        }
        if let Some(o) = opt_obj(root, "timescale")? {
            let p = "filters.timescale";
            let t = Timescale {
                speed: positive(o, "speed", p)?,
                pitch: positive(o, "pitch", p)?,
                rate: positive(o, "rate", p)?,
            };
            f.timescale = Some(t);
        }
        if let Some(o) = opt_obj(root, "tremolo")? {
            let d = Tremolo::default();
            let p = "filters.tremolo";
            f.tremolo = Some(Tremolo {
                frequency: f32_or(o, "frequency", d.frequency, p)?,
                depth: f32_or(o, "depth", d.depth, p)?,
            });
        }
        if let Some(o) = opt_obj(root, "vibrato")? {
            let d = Vibrato::default();
            let p = "filters.vibrato";
            f.vibrato = Some(Vibrato {
                frequency: f32_or(o, "frequency", d.frequency, p)?,
                depth: f32_or(o, "depth", d.depth, p)?,
            });
        }
        if let Some(o) = opt_obj(root, "distortion")? {
            let d = Distortion::default();
            let p = "filters.distortion";
            f.distortion = Some(Distortion {
                sin_offset: f32_or(o, "sinOffset", d.sin_offset, p)?,
                sin_scale: f32_or(o, "sinScale", d.sin_scale, p)?,
                cos_offset: f32_or(o, "cosOffset", d.cos_offset, p)?,
                cos_scale: f32_or(o, "cosScale", d.cos_scale, p)?,
                tan_offset: f32_or(o, "tanOffset", d.tan_offset, p)?,
                tan_scale: f32_or(o, "tanScale", d.tan_scale, p)?,
                offset: f32_or(o, "offset", d.offset, p)?,
                scale: f32_or(o, "scale", d.scale, p)?,
            });
        }
        if let Some(o) = opt_obj(root, "rotation")? {
            f.rotation = Some(Rotation {
                rotation_hz: f64_or(o, "rotationHz", 0.0, "filters.rotation")?,
            });
        }
        if let Some(o) = opt_obj(root, "channelMix")? {
            let d = ChannelMix::default();
            let p = "filters.channelMix";
            f.channel_mix = Some(ChannelMix {
                left_to_left: f32_or(o, "leftToLeft", d.left_to_left, p)?,
                left_to_right: f32_or(o, "leftToRight", d.left_to_right, p)?,
                right_to_left: f32_or(o, "rightToLeft", d.right_to_left, p)?,
                right_to_right: f32_or(o, "rightToRight", d.right_to_right, p)?,
            });
        }
        if let Some(o) = opt_obj(root, "lowPass")? {
            f.low_pass = Some(LowPass {
                smoothing: f32_or(o, "smoothing", 20.0, "filters.lowPass")?,
            });
        }
        if let Some(v) = root.get("pluginFilters") {
            match v {
                Value::Null => return Err(null("filters.pluginFilters")),
                Value::Object(m) => f.plugin_filters = m.clone(),
                _ => return Err(wrong("filters.pluginFilters", "object")),
            }
        }
        f.dspx = crate::extra::DspxFilters::from_map(&f.plugin_filters);
        crate::extra::json::parse(root, &mut f)?;
        Ok(f)
    }

    /// The `Player.filters` object: configured filters only, all their parameters,
    /// Lavalink's key order, floats with a decimal point, the equalizer as received.
    pub fn to_json(&self) -> Value {
        let mut m = Obj::new();
        if let Some(v) = self.volume {
            m.insert("volume".into(), jf32(v));
        }
        if let Some(bands) = &self.equalizer {
            let list = bands
                .iter()
                .map(|b| {
                    let mut o = Obj::new();
                    o.insert("band".into(), Value::from(b.band));
                    o.insert("gain".into(), jf32(b.gain));
                    Value::Object(o)
                })
                .collect();
            m.insert("equalizer".into(), Value::Array(list));
        }
        if let Some(k) = &self.karaoke {
            m.insert(
                "karaoke".into(),
                obj(&[
                    ("level", jf32(k.level)),
                    ("monoLevel", jf32(k.mono_level)),
                    ("filterBand", jf32(k.filter_band)),
                    ("filterWidth", jf32(k.filter_width)),
                ]),
            );
        }
        if let Some(t) = &self.timescale {
            m.insert(
                "timescale".into(),
                obj(&[
                    ("speed", jf64(t.speed)),
                    ("pitch", jf64(t.pitch)),
                    ("rate", jf64(t.rate)),
                ]),
            );
        }
        if let Some(t) = &self.tremolo {
            m.insert(
                "tremolo".into(),
                obj(&[("frequency", jf32(t.frequency)), ("depth", jf32(t.depth))]),
            );
        }
        if let Some(t) = &self.vibrato {
            m.insert(
                "vibrato".into(),
                obj(&[("frequency", jf32(t.frequency)), ("depth", jf32(t.depth))]),
            );
        }
        if let Some(d) = &self.distortion {
            m.insert(
                "distortion".into(),
                obj(&[
                    ("sinOffset", jf32(d.sin_offset)),
                    ("sinScale", jf32(d.sin_scale)),
                    ("cosOffset", jf32(d.cos_offset)),
                    ("cosScale", jf32(d.cos_scale)),
                    ("tanOffset", jf32(d.tan_offset)),
                    ("tanScale", jf32(d.tan_scale)),
                    ("offset", jf32(d.offset)),
                    ("scale", jf32(d.scale)),
                ]),
            );
        }
        if let Some(r) = &self.rotation {
            m.insert(
                "rotation".into(),
                obj(&[("rotationHz", jf64(r.rotation_hz))]),
            );
        }
        if let Some(c) = &self.channel_mix {
            m.insert(
                "channelMix".into(),
                obj(&[
                    ("leftToLeft", jf32(c.left_to_left)),
                    ("leftToRight", jf32(c.left_to_right)),
                    ("rightToLeft", jf32(c.right_to_left)),
                    ("rightToRight", jf32(c.right_to_right)),
                ]),
            );
        }
        if let Some(l) = &self.low_pass {
            m.insert("lowPass".into(), obj(&[("smoothing", jf32(l.smoothing))]));
        }
        crate::extra::json::write(self, &mut m);
        if !self.plugin_filters.is_empty() {
            m.insert(
                "pluginFilters".into(),
                Value::Object(self.plugin_filters.clone()),
            );
        }
        Value::Object(m)
    }
}

fn parse_equalizer(v: &Value) -> Result<Vec<Band>, FilterError> {
    let list = match v {
        Value::Null => return Err(null("filters.equalizer")),
        Value::Array(a) => a,
        _ => return Err(wrong("filters.equalizer", "array")),
    };
    let mut bands = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let path = format!("filters.equalizer[{i}]");
        let o = match item {
            Value::Object(o) => o,
            Value::Null => return Err(null(&path)),
            _ => return Err(wrong(&path, "object")),
        };
        let band_path = format!("{path}.band");
        let band = match o.get("band") {
            None => return Err(FilterError::Missing { field: band_path }),
            Some(Value::Null) => return Err(null(&band_path)),
            Some(Value::Number(n)) => n.as_i64().ok_or_else(|| wrong(&band_path, "integer"))?,
            Some(_) => return Err(wrong(&band_path, "integer")),
        };
        if !(0..BANDS as i64).contains(&band) {
            return Err(FilterError::BandOutOfRange {
                field: band_path,
                band,
            });
        }
        let gain = f32_or(o, "gain", 1.0, &path)?;
        bands.push(Band { band, gain });
    }
    Ok(bands)
}

pub(crate) fn wrong(field: &str, expected: &'static str) -> FilterError {
    FilterError::WrongType {
        field: field.to_string(),
        expected,
    }
}

fn null(field: &str) -> FilterError {
    FilterError::Null {
        field: field.to_string(),
    }
}

/// A nullable filter object: absent or null → `None` (filter off).
pub(crate) fn opt_obj<'a>(root: &'a Obj, key: &str) -> Result<Option<&'a Obj>, FilterError> {
    match root.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(_) => Err(wrong(&format!("filters.{key}"), "object")),
    }
}

fn req_f64(v: &Value, field: &str) -> Result<f64, FilterError> {
    match v {
        Value::Null => Err(null(field)),
        Value::Number(n) => n.as_f64().ok_or_else(|| wrong(field, "number")),
        _ => Err(wrong(field, "number")),
    }
}

/// A Kotlin `Float`: any JSON number that fits f32 (values overflowing to infinity are
/// rejected — Lavalink could not even serialise them back).
fn req_f32(v: &Value, field: &str) -> Result<f32, FilterError> {
    let x = req_f64(v, field)?;
    let f = x as f32;
    if f.is_finite() {
        Ok(f)
    } else {
        Err(FilterError::OutOfRange {
            field: field.to_string(),
            value: x,
        })
    }
}

pub(crate) fn f32_or(o: &Obj, key: &str, default: f32, parent: &str) -> Result<f32, FilterError> {
    match o.get(key) {
        None => Ok(default),
        Some(v) => req_f32(v, &format!("{parent}.{key}")),
    }
}

fn f64_or(o: &Obj, key: &str, default: f64, parent: &str) -> Result<f64, FilterError> {
    match o.get(key) {
        None => Ok(default),
        Some(v) => req_f64(v, &format!("{parent}.{key}")),
    }
}

/// Timescale parameters: SoundTouch has no meaning for values ≤ 0 (Lavalink's setter throws
/// on the playback thread), so they are a 400 here.
fn positive(o: &Obj, key: &str, parent: &str) -> Result<f64, FilterError> {
    let v = f64_or(o, key, 1.0, parent)?;
    if v > 0.0 {
        Ok(v)
    } else {
        Err(FilterError::NotPositive {
            field: format!("{parent}.{key}"),
            value: v,
        })
    }
}

pub(crate) fn obj(pairs: &[(&str, Value)]) -> Value {
    let mut m = Obj::new();
    for (k, v) in pairs {
        m.insert((*k).to_string(), v.clone());
    }
    Value::Object(m)
}

/// A Kotlin `Float` printed as Kotlin does: the shortest decimal that round-trips in f32
/// (0.3 stays 0.3, not 0.30000001192…), always with a decimal point.
pub(crate) fn jf32(x: f32) -> Value {
    let shortest: f64 = format!("{x}").parse().unwrap_or(x as f64);
    jf64(shortest)
}

pub(crate) fn jf64(x: f64) -> Value {
    Number::from_f64(x).map_or(Value::Null, Value::Number)
}
