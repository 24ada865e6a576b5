//! LavaDSPX-Plugin's four `pluginFilters` (`echo`, `high-pass`, `low-pass`,
//! `normalization`), parsed the way the plugin reads them (plugins.md §4.1, §7.3 A).
//!
//! The plugin never rejects a request: a value that does not parse, or a non-object,
//! leaves that filter off. Values may be JSON numbers or numeric strings (it reads
//! `JsonPrimitive.content`). Basalt differs where LavaDSPX is unsafe or odd: `echoLength`
//! is capped at 5 s and `decay` at 1, an integral float cutoff (`80.0`) is accepted, the
//! cutoff stays below Nyquist, and normalisation is stereo-linked.

use serde_json::{Map, Value};

use super::biquad::{Coeffs, Kind, BUTTERWORTH_Q};

/// The keys this plugin answers to under `pluginFilters`, in registration order (the
/// order of `/v4/info.filters` and of the echoed `pluginFilters`).
pub const LAVADSPX_FILTERS: [&str; 4] = ["echo", "high-pass", "low-pass", "normalization"];

/// The plugin name clients look for in `/v4/info.plugins`.
pub const LAVADSPX_PLUGIN: &str = "lavadspx-plugin";

/// The LavaDSPX filters a `pluginFilters` map enables (`None` = off).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DspxFilters {
    pub echo: Option<DspxEcho>,
    pub high_pass: Option<DspxPass>,
    pub low_pass: Option<DspxPass>,
    pub normalization: Option<DspxNormalization>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DspxEcho {
    pub echo_length: f32,
    pub decay: f32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DspxPass {
    pub cutoff_frequency: f32,
    pub boost_factor: f32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DspxNormalization {
    /// Clamped to (0, 1].
    pub max_amplitude: f32,
    pub adaptive: bool,
}

impl DspxFilters {
    /// Read the LavaDSPX keys of a `pluginFilters` object; other keys are not ours.
    pub fn from_map(m: &Map<String, Value>) -> DspxFilters {
        let obj = |k: &str| m.get(k).and_then(Value::as_object);
        DspxFilters {
            echo: obj("echo").and_then(|o| {
                let echo_length = num(o.get("echoLength"))?;
                let decay = num(o.get("decay"))?;
                (echo_length > 0.0 && decay > 0.0).then_some(DspxEcho { echo_length, decay })
            }),
            high_pass: obj("high-pass").and_then(pass),
            low_pass: obj("low-pass").and_then(pass),
            normalization: obj("normalization").and_then(|o| {
                let max = num(o.get("maxAmplitude"))?.clamp(0.0, 1.0);
                let adaptive = match o.get("adaptive") {
                    Some(Value::Bool(b)) => *b,
                    Some(Value::String(s)) if s == "false" => false,
                    _ => true,
                };
                (max > 0.0).then_some(DspxNormalization {
                    max_amplitude: max,
                    adaptive,
                })
            }),
        }
    }

    pub fn any(&self) -> bool {
        self.echo.is_some()
            || self.high_pass.is_some()
            || self.low_pass.is_some()
            || self.normalization.is_some()
    }
}

fn pass(o: &Map<String, Value>) -> Option<DspxPass> {
    let cutoff = num(o.get("cutoffFrequency"))?;
    let boost = num(o.get("boostFactor")).unwrap_or(1.0);
    (cutoff > 0.0).then_some(DspxPass {
        cutoff_frequency: cutoff,
        boost_factor: boost,
    })
}

impl DspxPass {
    pub(crate) fn design(&self, kind: Kind) -> Coeffs {
        Coeffs::rbj(kind, self.cutoff_frequency, BUTTERWORTH_Q)
    }
}

/// A finite number given as a JSON number or a numeric string.
fn num(v: Option<&Value>) -> Option<f32> {
    let x = match v? {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    } as f32;
    x.is_finite().then_some(x)
}
