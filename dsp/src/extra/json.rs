//! The top-level extras ⇄ JSON, in the same strict style as the built-ins (a wrong type
//! is a 400 naming the field; absent inner keys take their defaults; null objects are
//! off). Fields are echoed back all written out, as received (ranges are applied by the
//! stages); an optional `transition` object is accepted and ignored — Basalt ramps every
//! change anyway. Where NodeLink and Rustalink disagree the fields present decide
//! (plugins.md §7.3 B).

use serde_json::Value;

use super::{Chorus, Compressor, Echo, Flanger, HighPass, Phaser, Reverb, Spatial};
use crate::error::FilterError;
use crate::filters::Filters;
use crate::json::{f32_or, jf32, obj, opt_obj, Obj};

/// Parse the extras of a `filters` object into `f`.
pub(crate) fn parse(root: &Obj, f: &mut Filters) -> Result<(), FilterError> {
    if let Some(o) = opt_obj(root, "echo")? {
        let p = "filters.echo";
        let has = |keys: &[&str]| keys.iter().any(|k| o.contains_key(*k));
        f.echo = Some(
            if has(&["echoLength", "decay"]) && !has(&["delay", "feedback", "mix"]) {
                Echo::Comb {
                    echo_length: f32_or(o, "echoLength", 1.0, p)?,
                    decay: f32_or(o, "decay", 0.5, p)?,
                }
            } else {
                Echo::Delay {
                    delay: f32_or(o, "delay", 0.0, p)?,
                    feedback: f32_or(o, "feedback", 0.0, p)?,
                    mix: f32_or(o, "mix", 0.0, p)?,
                }
            },
        );
    }
    if let Some(o) = opt_obj(root, "highPass")? {
        let p = "filters.highPass";
        f.high_pass = Some(if o.contains_key("cutoffFrequency") {
            HighPass::Cutoff {
                cutoff_frequency: f32_or(o, "cutoffFrequency", 200.0, p)?,
                boost_factor: f32_or(o, "boostFactor", 1.0, p)?,
            }
        } else {
            HighPass::Smoothing {
                smoothing: f32_or(o, "smoothing", 0.0, p)?,
            }
        });
    }
    if let Some(o) = opt_obj(root, "chorus")? {
        let (p, d) = ("filters.chorus", Chorus::default());
        f.chorus = Some(Chorus {
            rate: f32_or(o, "rate", d.rate, p)?,
            depth: f32_or(o, "depth", d.depth, p)?,
            delay: f32_or(o, "delay", d.delay, p)?,
            mix: f32_or(o, "mix", d.mix, p)?,
            feedback: f32_or(o, "feedback", d.feedback, p)?,
        });
    }
    if let Some(o) = opt_obj(root, "flanger")? {
        let (p, d) = ("filters.flanger", Flanger::default());
        f.flanger = Some(Flanger {
            rate: f32_or(o, "rate", d.rate, p)?,
            depth: f32_or(o, "depth", d.depth, p)?,
            feedback: f32_or(o, "feedback", d.feedback, p)?,
        });
    }
    if let Some(o) = opt_obj(root, "phaser")? {
        let (p, d) = ("filters.phaser", Phaser::default());
        let stages = f32_or(o, "stages", d.stages as f32, p)?;
        f.phaser = Some(Phaser {
            stages: stages.round().clamp(2.0, phaser_max()) as u32,
            rate: f32_or(o, "rate", d.rate, p)?,
            depth: f32_or(o, "depth", d.depth, p)?,
            feedback: f32_or(o, "feedback", d.feedback, p)?,
            mix: f32_or(o, "mix", d.mix, p)?,
            min_frequency: f32_or(o, "minFrequency", d.min_frequency, p)?,
            max_frequency: f32_or(o, "maxFrequency", d.max_frequency, p)?,
        });
    }
    if let Some(o) = opt_obj(root, "compressor")? {
        let (p, d) = ("filters.compressor", Compressor::default());
        // lavalink-client's type calls the makeup `gain`.
        let makeup = if o.contains_key("makeupGain") {
            f32_or(o, "makeupGain", 0.0, p)?
        } else {
            f32_or(o, "gain", 0.0, p)?
        };
        f.compressor = Some(Compressor {
            threshold: f32_or(o, "threshold", d.threshold, p)?,
            ratio: f32_or(o, "ratio", d.ratio, p)?,
            attack: f32_or(o, "attack", d.attack, p)?,
            release: f32_or(o, "release", d.release, p)?,
            makeup_gain: makeup,
        });
    }
    if let Some(o) = opt_obj(root, "spatial")? {
        let p = "filters.spatial";
        f.spatial = Some(Spatial {
            depth: f32_or(o, "depth", 0.0, p)?,
            rate: f32_or(o, "rate", 0.0, p)?,
        });
    }
    if let Some(o) = opt_obj(root, "reverb")? {
        let (p, d) = ("filters.reverb", Reverb::default());
        f.reverb = Some(Reverb {
            mix: f32_or(o, "mix", d.mix, p)?,
            room_size: f32_or(o, "roomSize", d.room_size, p)?,
            damping: f32_or(o, "damping", d.damping, p)?,
            width: f32_or(o, "width", d.width, p)?,
        });
    }
    Ok(())
}

fn phaser_max() -> f32 {
    super::phaser::MAX_STAGES as f32
}

/// Append the configured extras to a `Player.filters` object, in `/v4/info` order.
pub(crate) fn write(f: &Filters, m: &mut Obj) {
    if let Some(e) = &f.echo {
        let v = match *e {
            Echo::Delay {
                delay,
                feedback,
                mix,
            } => obj(&[
                ("delay", jf32(delay)),
                ("feedback", jf32(feedback)),
                ("mix", jf32(mix)),
            ]),
            Echo::Comb { echo_length, decay } => {
                obj(&[("echoLength", jf32(echo_length)), ("decay", jf32(decay))])
            }
        };
        m.insert("echo".into(), v);
    }
    if let Some(h) = &f.high_pass {
        let v = match *h {
            HighPass::Smoothing { smoothing } => obj(&[("smoothing", jf32(smoothing))]),
            HighPass::Cutoff {
                cutoff_frequency,
                boost_factor,
            } => obj(&[
                ("cutoffFrequency", jf32(cutoff_frequency)),
                ("boostFactor", jf32(boost_factor)),
            ]),
        };
        m.insert("highPass".into(), v);
    }
    if let Some(c) = &f.chorus {
        m.insert(
            "chorus".into(),
            obj(&[
                ("rate", jf32(c.rate)),
                ("depth", jf32(c.depth)),
                ("delay", jf32(c.delay)),
                ("mix", jf32(c.mix)),
                ("feedback", jf32(c.feedback)),
            ]),
        );
    }
    if let Some(c) = &f.flanger {
        m.insert(
            "flanger".into(),
            obj(&[
                ("rate", jf32(c.rate)),
                ("depth", jf32(c.depth)),
                ("feedback", jf32(c.feedback)),
            ]),
        );
    }
    if let Some(c) = &f.phaser {
        m.insert(
            "phaser".into(),
            obj(&[
                ("stages", Value::from(c.stages)),
                ("rate", jf32(c.rate)),
                ("depth", jf32(c.depth)),
                ("feedback", jf32(c.feedback)),
                ("mix", jf32(c.mix)),
                ("minFrequency", jf32(c.min_frequency)),
                ("maxFrequency", jf32(c.max_frequency)),
            ]),
        );
    }
    if let Some(c) = &f.compressor {
        m.insert(
            "compressor".into(),
            obj(&[
                ("threshold", jf32(c.threshold)),
                ("ratio", jf32(c.ratio)),
                ("attack", jf32(c.attack)),
                ("release", jf32(c.release)),
                ("makeupGain", jf32(c.makeup_gain)),
            ]),
        );
    }
    if let Some(c) = &f.spatial {
        m.insert(
            "spatial".into(),
            obj(&[("depth", jf32(c.depth)), ("rate", jf32(c.rate))]),
        );
    }
    if let Some(c) = &f.reverb {
        m.insert(
            "reverb".into(),
            obj(&[
                ("mix", jf32(c.mix)),
                ("roomSize", jf32(c.room_size)),
                ("damping", jf32(c.damping)),
                ("width", jf32(c.width)),
            ]),
        );
    }
}
