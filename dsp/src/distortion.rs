//! Distortion: `clamp(offset + scale·(sinOffset + sin(x·sinScale))·(cosOffset +
//! cos(x·cosScale))·(tanOffset + tan(x·tanScale)), ±1)` (lavadsp). Defaults give sin²x.
//!
//! NaN (0·∞ near a tan pole) becomes 0, which is what Lavalink's PCM conversion makes of it.

use wide::{f32x8, i32x8};

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
                let y = off + sc * sin_sq8(ld(&x[i..]) * ss);
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

/// sin²(x), eight lanes, for the default shape. Squaring drops the sign, so only the
/// quadrant's parity matters (sin or cos of the reduced argument): none of a full sin's
/// sign and special-case bookkeeping. Three-part π/2 reduction and the usual degree-7/8
/// minimax polynomials, ~1e-7 absolute. |x| ≥ 2²⁵ or non-finite gives NaN (→ 0 above):
/// there the f32 reduction has no meaningful digits left.
#[inline(always)]
fn sin_sq8(x: f32x8) -> f32x8 {
    // π/2 split so that q·DP1 and q·DP2 are exact for the q that occur (digits as derived).
    #![allow(clippy::excessive_precision)]
    const DP1: f32 = 1.570_312_5;
    const DP2: f32 = 4.837_512_969_970_703e-4;
    const DP3: f32 = 7.549_789_954_891_8e-8;
    let xa = x.abs();
    let q = (xa * f32x8::splat(std::f32::consts::FRAC_2_PI)).fast_round_int();
    let y = f32x8::from_i32x8(q);
    let r = y.mul_neg_add(
        f32x8::splat(DP3),
        y.mul_neg_add(f32x8::splat(DP2), y.mul_neg_add(f32x8::splat(DP1), xa)),
    );
    let r2 = r * r;
    let s = ((f32x8::splat(-1.951_529_6e-4) * r2 + f32x8::splat(8.332_161e-3)) * r2
        + f32x8::splat(-1.666_665_5e-1))
        * (r * r2)
        + r;
    let c = ((f32x8::splat(2.443_315_7e-5) * r2 + f32x8::splat(-1.388_731_6e-3)) * r2
        + f32x8::splat(4.166_664_6e-2))
        * (r2 * r2)
        + (f32x8::ONE - f32x8::splat(0.5) * r2);
    let odd: f32x8 = wide::bytemuck::cast((q & i32x8::splat(1)).simd_eq(i32x8::splat(1)));
    let v = odd.bitselect(c * c, s * s);
    xa.simd_lt(f32x8::splat(33_554_432.0))
        .bitselect(v, f32x8::splat(f32::NAN))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sin_sq8_matches_libm() {
        let mut worst = 0.0f64;
        for k in -200_000..200_000 {
            let x0 = k as f32 * 1.3e-3;
            let xs: [f32; 8] = std::array::from_fn(|j| x0 + j as f32 * 1.7e-4);
            let v = sin_sq8(f32x8::new(xs)).to_array();
            for (x, v) in xs.iter().zip(v) {
                let want = (*x as f64).sin().powi(2);
                worst = worst.max((v as f64 - want).abs());
            }
        }
        assert!(worst < 1e-6, "worst {worst}");
        let odd = sin_sq8(f32x8::new([
            f32::NAN,
            f32::INFINITY,
            -f32::INFINITY,
            1e30,
            0.0,
            -0.0,
            1.0,
            -1.0,
        ]));
        let o = odd.to_array();
        assert!(o[..4].iter().all(|v| v.is_nan()));
        assert_eq!(&o[4..6], &[0.0, 0.0]);
        assert!((o[6] - 1f32.sin().powi(2)).abs() < 1e-6, "{o:?}");
        assert_eq!(o[6], o[7]);
    }
}
