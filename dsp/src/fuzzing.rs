//! The body of the cargo-fuzz target `dsp_chain` (fuzz/fuzz_targets/dsp_chain.rs), kept
//! here so ordinary tests run it too. Panics only when an invariant breaks.

use serde_json::Value;

use crate::chain::{ChainWork, FilterChain, FRAME, MAX_INPUT};
use crate::filters::*;

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn f32(&mut self) -> f32 {
        let b = [self.u8(), self.u8(), self.u8(), self.u8()];
        match b[0] % 8 {
            // Mostly plausible values, sometimes raw bit patterns (NaN, inf, huge).
            0 => f32::from_le_bytes(b),
            1 => 0.0,
            2 => 1.0,
            _ => (i16::from_le_bytes([b[1], b[2]]) as f32) / 4096.0,
        }
    }
}

fn raw_filters(b: &mut Bytes) -> Filters {
    let mask = u16::from_le_bytes([b.u8(), b.u8()]);
    let on = |bit: u16| mask & (1 << bit) != 0;
    let mut f = Filters::default();
    if on(0) {
        f.volume = Some(b.f32());
    }
    if on(1) {
        let n = b.u8() % 20;
        f.equalizer = Some(
            (0..n)
                .map(|_| Band {
                    band: (b.u8() % 17) as i64 - 1,
                    gain: b.f32(),
                })
                .collect(),
        );
    }
    if on(2) {
        f.karaoke = Some(Karaoke {
            level: b.f32(),
            mono_level: b.f32(),
            filter_band: b.f32(),
            filter_width: b.f32(),
        });
    }
    if on(3) {
        f.timescale = Some(Timescale {
            speed: b.f32() as f64,
            pitch: b.f32() as f64,
            rate: b.f32() as f64,
        });
    }
    if on(4) {
        f.tremolo = Some(Tremolo {
            frequency: b.f32(),
            depth: b.f32(),
        });
    }
    if on(5) {
        f.vibrato = Some(Vibrato {
            frequency: b.f32(),
            depth: b.f32(),
        });
    }
    if on(6) {
        f.distortion = Some(Distortion {
            sin_offset: b.f32(),
            sin_scale: b.f32(),
            cos_offset: b.f32(),
            cos_scale: b.f32(),
            tan_offset: b.f32(),
            tan_scale: b.f32(),
            offset: b.f32(),
            scale: b.f32(),
        });
    }
    if on(7) {
        f.rotation = Some(Rotation {
            rotation_hz: b.f32() as f64,
        });
    }
    if on(8) {
        f.channel_mix = Some(ChannelMix {
            left_to_left: b.f32(),
            left_to_right: b.f32(),
            right_to_left: b.f32(),
            right_to_right: b.f32(),
        });
    }
    if on(9) {
        f.low_pass = Some(LowPass { smoothing: b.f32() });
    }
    raw_extras(b, &mut f);
    f
}

/// The extra filters (`crate::extra`) with raw values, after a second mask.
fn raw_extras(b: &mut Bytes, f: &mut Filters) {
    use crate::extra::*;
    let mask = u16::from_le_bytes([b.u8(), b.u8()]);
    let on = |bit: u16| mask & (1 << bit) != 0;
    if on(0) {
        f.echo = Some(if on(12) {
            Echo::Comb {
                echo_length: b.f32(),
                decay: b.f32(),
            }
        } else {
            Echo::Delay {
                delay: b.f32() * 100.0,
                feedback: b.f32(),
                mix: b.f32(),
            }
        });
    }
    if on(1) {
        f.high_pass = Some(if on(13) {
            HighPass::Cutoff {
                cutoff_frequency: b.f32() * 1000.0,
                boost_factor: b.f32(),
            }
        } else {
            HighPass::Smoothing {
                smoothing: b.f32() * 10.0,
            }
        });
    }
    if on(2) {
        f.chorus = Some(Chorus {
            rate: b.f32(),
            depth: b.f32(),
            delay: b.f32() * 10.0,
            mix: b.f32(),
            feedback: b.f32(),
        });
    }
    if on(3) {
        f.flanger = Some(Flanger {
            rate: b.f32(),
            depth: b.f32(),
            feedback: b.f32(),
        });
    }
    if on(4) {
        f.phaser = Some(Phaser {
            stages: b.u8() as u32,
            rate: b.f32(),
            depth: b.f32(),
            feedback: b.f32(),
            mix: b.f32(),
            min_frequency: b.f32() * 1000.0,
            max_frequency: b.f32() * 1000.0,
        });
    }
    if on(5) {
        f.compressor = Some(Compressor {
            threshold: b.f32() * 10.0,
            ratio: b.f32() * 4.0,
            attack: b.f32(),
            release: b.f32(),
            makeup_gain: b.f32() * 10.0,
        });
    }
    if on(6) {
        f.spatial = Some(Spatial {
            depth: b.f32(),
            rate: b.f32(),
        });
    }
    if on(7) {
        f.reverb = Some(Reverb {
            mix: b.f32(),
            room_size: b.f32(),
            damping: b.f32(),
            width: b.f32(),
        });
    }
    if on(8) {
        f.dspx.echo = Some(DspxEcho {
            echo_length: b.f32(),
            decay: b.f32(),
        });
    }
    for (bit, slot) in [(9, &mut f.dspx.high_pass), (10, &mut f.dspx.low_pass)] {
        if on(bit) {
            *slot = Some(DspxPass {
                cutoff_frequency: b.f32() * 1000.0,
                boost_factor: b.f32(),
            });
        }
    }
    if on(11) {
        f.dspx.normalization = Some(DspxNormalization {
            max_amplitude: b.f32(),
            adaptive: on(14),
        });
    }
}

/// Fuzz entry: first byte picks JSON (even) or raw parameters (odd); the rest is filters
/// then signal.
pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (filters, signal) = if mode % 2 == 0 {
        let split = rest.iter().position(|&b| b == 0xff).unwrap_or(rest.len());
        let Ok(v) = serde_json::from_slice::<Value>(&rest[..split]) else {
            return;
        };
        let f = match Filters::from_json(&v) {
            Ok(f) => f,
            Err(e) => {
                assert!(e.field().starts_with("filters"), "{e}");
                return;
            }
        };
        let back = Filters::from_json(&f.to_json()).expect("to_json output parses");
        assert_eq!(back, f, "to_json/from_json round trip");
        (f, &rest[(split + 1).min(rest.len())..])
    } else {
        let mut b = Bytes(rest);
        let f = raw_filters(&mut b);
        (f, b.0)
    };

    let mut chain = FilterChain::new();
    chain.update(&filters);
    let mut input = vec![0.0f32; MAX_INPUT * 2];
    let mut out = vec![0.0f32; FRAME * 2];
    let mut work = ChainWork::new();
    let mut sig = Bytes(signal);
    for frame in 0..8 {
        let need = chain.input_needed();
        assert!(need <= MAX_INPUT);
        for s in input[..need * 2].iter_mut() {
            *s = sig.f32();
        }
        if frame == 4 && mode & 2 != 0 {
            chain.reset();
            continue;
        }
        chain.process(&input[..need * 2], &mut out, &mut work);
        assert!(out.iter().all(|v| v.is_finite()), "non-finite output");
    }
    // Switching everything off ends every tail within a bounded number of frames.
    chain.update(&Filters::default());
    for _ in 0..24 {
        let need = chain.input_needed();
        chain.process(&input[..need * 2], &mut out, &mut work);
        assert!(out.iter().all(|v| v.is_finite()), "non-finite output");
    }
    assert!(!chain.is_active(), "tails did not end");
    assert_eq!(chain.input_needed(), FRAME);
}
