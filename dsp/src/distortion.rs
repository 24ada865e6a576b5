//! Distortion: `clamp(offset + scale·(sinOffset + sin(x·sinScale))·(cosOffset +
//! cos(x·cosScale))·(tanOffset + tan(x·tanScale)), ±1)` (lavadsp). Defaults give sin²x.
//!
//! NaN (0·∞ near a tan pole) becomes 0, which is what Lavalink's PCM conversion makes of it.

use wide::f32x8;

use crate::filters::Distortion;
use crate::simd::{ld, st, LANES};

pub(crate) fn process(d: &Distortion, x: &mut [f32], simd: bool) {
    let n = x.len();
    let mut i = 0;
    if simd {
        let so = f32x8::splat(d.sin_offset);
        let ss = f32x8::splat(d.sin_scale);
        let co = f32x8::splat(d.cos_offset);
        let cs = f32x8::splat(d.cos_scale);
        let to = f32x8::splat(d.tan_offset);
        let ts = f32x8::splat(d.tan_scale);
        let off = f32x8::splat(d.offset);
        let sc = f32x8::splat(d.scale);
        let lo = f32x8::splat(-1.0);
        let hi = f32x8::splat(1.0);
        // Share sin_cos evaluations between equal scales (the defaults are all 1).
        let same = d.sin_scale == d.cos_scale;
        let tan_same = d.tan_scale == d.sin_scale;
        // Offsets 0 and one scale: (sin·cos·tan)(k·x) = sin²(k·x), no division needed
        // (cos is never exactly 0 for an f32 argument).
        let squared =
            same && tan_same && d.sin_offset == 0.0 && d.cos_offset == 0.0 && d.tan_offset == 0.0;
        if squared {
            while i + LANES <= n {
                let s = (ld(&x[i..]) * ss).sin();
                let y = off + sc * (s * s);
                let y = y.is_nan().bitselect(f32x8::ZERO, y.max(lo).min(hi));
                st(&mut x[i..], y);
                i += LANES;
            }
        }
        while i + LANES <= n {
            let v = ld(&x[i..]);
            let (s1, c1) = (v * ss).sin_cos();
            let (s, c) = if same { (s1, c1) } else { (s1, (v * cs).cos()) };
            let (ts_s, ts_c) = if tan_same {
                (s1, c1)
            } else {
                (v * ts).sin_cos()
            };
            let y = off + sc * ((so + s) * (co + c) * (to + ts_s / ts_c));
            let y = y.is_nan().bitselect(f32x8::ZERO, y.max(lo).min(hi));
            st(&mut x[i..], y);
            i += LANES;
        }
    }
    while i < n {
        let v = x[i];
        let y = d.offset
            + d.scale
                * ((d.sin_offset + (v * d.sin_scale).sin())
                    * (d.cos_offset + (v * d.cos_scale).cos())
                    * (d.tan_offset + (v * d.tan_scale).tan()));
        x[i] = if y.is_nan() { 0.0 } else { y.clamp(-1.0, 1.0) };
        i += 1;
    }
}
