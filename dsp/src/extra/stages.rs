//! Where the extras sit in the chain (plugins.md §7.3): LavaDSPX's `pluginFilters` with
//! the other plugin filters before `lowPass`, and the top-level extras after `equalizer`,
//! in the order highPass → chorus → flanger → phaser → echo → reverb → spatial →
//! compressor (modulation and time effects before dynamics, so the compressor sees the
//! final signal). Each has a wet/dry ramp that fades it in and out.

use super::biquad::{BiquadStage, Kind};
use super::chorus::ChorusStage;
use super::compressor::CompressorStage;
use super::echo::{EchoParams, EchoStage};
use super::flanger::FlangerStage;
use super::normalization::NormalizationStage;
use super::phaser::PhaserStage;
use super::reverb::ReverbStage;
use super::spatial::SpatialStage;
use crate::chain::{run_wet, FRAME};
use crate::filters::Filters;
use crate::simd::Wet;

impl Filters {
    /// Whether a top-level extra or a LavaDSPX filter is enabled (plugins.md §7.3).
    pub fn extras_active(&self) -> bool {
        self.echo.is_some_and(|e| e.active())
            || self.high_pass.is_some_and(|h| h.active())
            || self.chorus.is_some_and(|c| c.active())
            || self.flanger.is_some_and(|c| c.active())
            || self.phaser.is_some_and(|c| c.active())
            || self.compressor.is_some()
            || self.spatial.is_some_and(|c| c.active())
            || self.reverb.is_some_and(|c| c.active())
            || self.dspx.any()
    }
}

/// A stage and its wet/dry ramp.
struct Slot<S> {
    stage: S,
    wet: Wet,
}

impl<S> Slot<S> {
    fn new(stage: S) -> Self {
        Slot {
            stage,
            wet: Wet::new(0.0),
        }
    }

    /// Switch on with `set(stage, fresh)` when `on`, else fade out. Returns `on`.
    fn switch(&mut self, on: bool, set: impl FnOnce(&mut S, bool)) {
        if on {
            let fresh = self.wet.is(0.0);
            set(&mut self.stage, fresh);
            self.wet.set(1.0);
        } else {
            self.wet.set(0.0);
        }
    }

    fn active(&self) -> bool {
        !self.wet.is(0.0)
    }

    #[allow(clippy::too_many_arguments)]
    fn run(
        &mut self,
        l: &mut [f32],
        r: &mut [f32],
        dl: &mut [f32],
        dr: &mut [f32],
        simd: bool,
        f: impl FnOnce(&mut S, &mut [f32], &mut [f32]),
    ) {
        let s = &mut self.stage;
        run_wet(&mut self.wet, l, r, dl, dr, simd, |l, r| f(s, l, r));
    }
}

/// The top-level extras (after the equalizer).
pub(crate) struct ExtraStages {
    high_pass: Slot<BiquadStage>,
    chorus: Slot<ChorusStage>,
    flanger: Slot<FlangerStage>,
    phaser: Slot<PhaserStage>,
    echo: Slot<EchoStage>,
    reverb: Slot<ReverbStage>,
    spatial: Slot<SpatialStage>,
    compressor: Slot<CompressorStage>,
    simd: bool,
}

impl ExtraStages {
    pub fn new(simd: bool) -> Self {
        ExtraStages {
            high_pass: Slot::new(BiquadStage::new()),
            chorus: Slot::new(ChorusStage::new(simd)),
            flanger: Slot::new(FlangerStage::new(simd)),
            phaser: Slot::new(PhaserStage::new(simd)),
            echo: Slot::new(EchoStage::new(simd)),
            reverb: Slot::new(ReverbStage::new(simd)),
            spatial: Slot::new(SpatialStage::new(simd)),
            compressor: Slot::new(CompressorStage::new(simd)),
            simd,
        }
    }

    /// Configure from `f` (`on`: the chain is on).
    pub fn update(&mut self, f: &Filters, on: bool) {
        let hp = f.high_pass.filter(|h| on && h.active());
        self.high_pass.switch(hp.is_some(), |s, fresh| {
            if let Some(h) = hp {
                let (c, g, clamp) = h.design();
                s.set(c, g, clamp, fresh);
            }
        });
        let c = f.chorus.filter(|c| on && c.active());
        self.chorus.switch(c.is_some(), |s, fresh| {
            if let Some(c) = &c {
                s.set(c, fresh)
            }
        });
        let c = f.flanger.filter(|c| on && c.active());
        self.flanger.switch(c.is_some(), |s, fresh| {
            if let Some(c) = &c {
                s.set(c, fresh)
            }
        });
        let c = f.phaser.filter(|c| on && c.active());
        self.phaser.switch(c.is_some(), |s, fresh| {
            if let Some(c) = &c {
                s.set(c, fresh)
            }
        });
        let c = f.echo.filter(|c| on && c.active());
        self.echo.switch(c.is_some(), |s, fresh| {
            if let Some(c) = &c {
                s.set(c.params(), fresh)
            }
        });
        let c = f.reverb.filter(|c| on && c.active());
        self.reverb.switch(c.is_some(), |s, fresh| {
            if let Some(c) = &c {
                s.set(c, fresh)
            }
        });
        let c = f.spatial.filter(|c| on && c.active());
        self.spatial.switch(c.is_some(), |s, fresh| {
            if let Some(c) = &c {
                s.set(c, fresh)
            }
        });
        let c = f.compressor.filter(|_| on);
        self.compressor.switch(c.is_some(), |s, fresh| {
            if let Some(c) = &c {
                s.set(c, fresh, FRAME)
            }
        });
    }

    pub fn active(&self) -> bool {
        self.high_pass.active()
            || self.chorus.active()
            || self.flanger.active()
            || self.phaser.active()
            || self.echo.active()
            || self.reverb.active()
            || self.spatial.active()
            || self.compressor.active()
    }

    /// `dl`/`dr`: dry scratch of at least `l.len()` samples whenever a stage is configured.
    pub fn process(&mut self, l: &mut [f32], r: &mut [f32], dl: &mut [f32], dr: &mut [f32]) {
        let simd = self.simd;
        self.high_pass
            .run(l, r, dl, dr, simd, |s, l, r| s.process(l, r, simd));
        self.chorus
            .run(l, r, dl, dr, simd, |s, l, r| s.process(l, r));
        self.flanger
            .run(l, r, dl, dr, simd, |s, l, r| s.process(l, r));
        self.phaser
            .run(l, r, dl, dr, simd, |s, l, r| s.process(l, r));
        self.echo.run(l, r, dl, dr, simd, |s, l, r| s.process(l, r));
        self.reverb
            .run(l, r, dl, dr, simd, |s, l, r| s.process(l, r));
        self.spatial
            .run(l, r, dl, dr, simd, |s, l, r| s.process(l, r));
        self.compressor
            .run(l, r, dl, dr, simd, |s, l, r| s.process(l, r));
    }

    /// Seek: drop every history (delay lines, reverb, envelopes).
    pub fn reset(&mut self) {
        self.high_pass.stage.reset();
        self.chorus.stage.reset();
        self.flanger.stage.reset();
        self.phaser.stage.reset();
        self.echo.stage.reset();
        self.reverb.stage.reset();
        self.spatial.stage.reset();
        self.compressor.stage.reset();
    }
}

/// LavaDSPX's filters (under `pluginFilters`, before `lowPass`), in the order high-pass →
/// low-pass → echo → normalization, so normalisation bounds what reaches the core chain.
pub(crate) struct DspxStages {
    high_pass: Slot<BiquadStage>,
    low_pass: Slot<BiquadStage>,
    echo: Slot<EchoStage>,
    normalization: Slot<NormalizationStage>,
    simd: bool,
}

impl DspxStages {
    pub fn new(simd: bool) -> Self {
        DspxStages {
            high_pass: Slot::new(BiquadStage::new()),
            low_pass: Slot::new(BiquadStage::new()),
            echo: Slot::new(EchoStage::new(simd)),
            normalization: Slot::new(NormalizationStage::new()),
            simd,
        }
    }

    pub fn update(&mut self, f: &Filters, on: bool) {
        let d = f.dspx;
        let hp = d.high_pass.filter(|_| on);
        self.high_pass.switch(hp.is_some(), |s, fresh| {
            if let Some(p) = hp {
                s.set(p.design(Kind::HighPass), p.boost_factor, true, fresh)
            }
        });
        let lp = d.low_pass.filter(|_| on);
        self.low_pass.switch(lp.is_some(), |s, fresh| {
            if let Some(p) = lp {
                s.set(p.design(Kind::LowPass), p.boost_factor, true, fresh)
            }
        });
        let e = d.echo.filter(|_| on);
        self.echo.switch(e.is_some(), |s, fresh| {
            if let Some(e) = e {
                s.set(EchoParams::comb(e.echo_length, e.decay), fresh)
            }
        });
        let nm = d.normalization.filter(|_| on);
        self.normalization.switch(nm.is_some(), |s, fresh| {
            if let Some(p) = nm {
                s.set(p, fresh)
            }
        });
    }

    pub fn active(&self) -> bool {
        self.high_pass.active()
            || self.low_pass.active()
            || self.echo.active()
            || self.normalization.active()
    }

    pub fn process(&mut self, l: &mut [f32], r: &mut [f32], dl: &mut [f32], dr: &mut [f32]) {
        let simd = self.simd;
        self.high_pass
            .run(l, r, dl, dr, simd, |s, l, r| s.process(l, r, simd));
        self.low_pass
            .run(l, r, dl, dr, simd, |s, l, r| s.process(l, r, simd));
        self.echo.run(l, r, dl, dr, simd, |s, l, r| s.process(l, r));
        self.normalization
            .run(l, r, dl, dr, simd, |s, l, r| s.process(l, r));
    }

    pub fn reset(&mut self) {
        self.high_pass.stage.reset();
        self.low_pass.stage.reset();
        self.echo.stage.reset();
        self.normalization.stage.reset();
    }
}
