//! Base64 exactly as `java.util.Base64.getDecoder()` reads it, which is what Lavalink
//! runs on `encoded` strings (spec: lavalink-v4.md §8.1).
//!
//! Standard alphabet only; missing padding is fine; wrong padding, whitespace, the
//! URL-safe `-`/`_` and anything after the padding are errors, with Java's messages
//! (clients match on them, e.g. "Illegal base64 character 20" for an unescaped `+`).
//! Like Java, the unused low bits of the last group are not checked.

use thiserror::Error;

/// Why Java's basic decoder throws `IllegalArgumentException`; texts are Java's.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Base64Error {
    /// Java prints the offending byte as a *signed* byte in hex (`-17` for 0xE9).
    #[error("Illegal base64 character {}", java_hex(*.0))]
    IllegalCharacter(u8),
    #[error("Input byte array has wrong 4-byte ending unit")]
    WrongEndingUnit,
    #[error("Last unit does not have enough valid bits")]
    NotEnoughValidBits,
    /// Data after the padding, at this 0-based index.
    #[error("Input byte array has incorrect ending byte at {0}")]
    IncorrectEndingByte(usize),
    #[error("Input byte[] should at least have 2 bytes for base64 bytes")]
    TooShort,
}

fn java_hex(b: u8) -> String {
    let v = b as i8;
    if v < 0 {
        format!("-{:x}", -(v as i16))
    } else {
        format!("{v:x}")
    }
}

const PAD: i8 = -2;
const BAD: i8 = -1;

const fn table() -> [i8; 256] {
    let mut t = [BAD; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut i = 0;
    while i < 64 {
        t[alphabet[i] as usize] = i as i8;
        i += 1;
    }
    t[b'=' as usize] = PAD;
    t
}

static FROM_BASE64: [i8; 256] = table();

/// Decodes `s` as Java's `Base64.getDecoder().decode(String)` does.
///
/// Java first turns the string into ISO-8859-1 bytes, so a character above U+00FF is
/// seen as `?` (0x3F) — which then fails as an illegal character, as in Java.
pub fn decode(s: &str) -> Result<Vec<u8>, Base64Error> {
    let src: Vec<u8> = s
        .chars()
        .map(|c| if (c as u32) <= 0xFF { c as u8 } else { b'?' })
        .collect();
    let sl = src.len();
    if sl == 0 {
        return Ok(Vec::new());
    }
    if sl < 2 {
        return Err(Base64Error::TooShort);
    }
    let mut dst = Vec::with_capacity(sl / 4 * 3 + 3);
    let mut sp = 0usize;
    let mut bits: u32 = 0;
    let mut shiftto: i32 = 18;
    while sp < sl {
        let raw = src[sp];
        sp += 1;
        let b = FROM_BASE64[raw as usize];
        if b < 0 {
            if b == PAD {
                // "=" with nothing before it in the unit, or "xx=" not followed by "=".
                if shiftto == 18 || (shiftto == 6 && (sp == sl || src[sp] != b'=')) {
                    return Err(Base64Error::WrongEndingUnit);
                }
                if shiftto == 6 {
                    sp += 1; // the second '='
                }
                break;
            }
            return Err(Base64Error::IllegalCharacter(raw));
        }
        bits |= (b as u32) << shiftto;
        shiftto -= 6;
        if shiftto < 0 {
            dst.extend_from_slice(&[(bits >> 16) as u8, (bits >> 8) as u8, bits as u8]);
            shiftto = 18;
            bits = 0;
        }
    }
    match shiftto {
        6 => dst.push((bits >> 16) as u8),
        0 => dst.extend_from_slice(&[(bits >> 16) as u8, (bits >> 8) as u8]),
        12 => return Err(Base64Error::NotEnoughValidBits),
        _ => {}
    }
    if sp < sl {
        return Err(Base64Error::IncorrectEndingByte(sp));
    }
    Ok(dst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_and_unpadded() {
        assert_eq!(decode("QUJD").unwrap(), b"ABC");
        assert_eq!(decode("QUI=").unwrap(), b"AB");
        assert_eq!(decode("QUI").unwrap(), b"AB");
        assert_eq!(decode("QQ==").unwrap(), b"A");
        assert_eq!(decode("QQ").unwrap(), b"A");
        assert_eq!(decode("").unwrap(), b"");
    }

    #[test]
    fn java_error_texts() {
        let e = |s: &str| decode(s).unwrap_err().to_string();
        assert_eq!(e("QU JD"), "Illegal base64 character 20");
        assert_eq!(e("QU-D"), "Illegal base64 character 2d");
        assert_eq!(e("QU_D"), "Illegal base64 character 5f");
        assert_eq!(e("QUJD\n"), "Illegal base64 character a");
        assert_eq!(e("QU\u{e9}D"), "Illegal base64 character -17");
        assert_eq!(e("QU\u{263a}D"), "Illegal base64 character 3f");
        assert_eq!(
            e("Q"),
            "Input byte[] should at least have 2 bytes for base64 bytes"
        );
        assert_eq!(e("QUJD="), "Input byte array has wrong 4-byte ending unit");
        assert_eq!(e("QQ="), "Input byte array has wrong 4-byte ending unit");
        assert_eq!(e("QQ=x"), "Input byte array has wrong 4-byte ending unit");
        assert_eq!(e("QUJDR"), "Last unit does not have enough valid bits");
        assert_eq!(e("QUJDR="), "Last unit does not have enough valid bits");
        assert_eq!(
            e("QQ==QUJD"),
            "Input byte array has incorrect ending byte at 4"
        );
        assert_eq!(
            e("QUI=QUJD"),
            "Input byte array has incorrect ending byte at 4"
        );
        assert_eq!(
            e("QUI=="),
            "Input byte array has incorrect ending byte at 4"
        );
    }

    #[test]
    fn unused_bits_are_not_checked() {
        assert_eq!(decode("QR==").unwrap(), b"A");
    }
}
