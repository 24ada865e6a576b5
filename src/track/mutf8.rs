//! Java "modified UTF-8" (`DataOutput.writeUTF` / `DataInput.readUTF`), the string
//! encoding inside lavaplayer track blobs (spec: lavalink-v4.md §8.3).
//!
//! Java encodes each UTF-16 code unit on its own: NUL as `C0 80`, supplementary
//! characters as two 3-byte surrogate groups, never a 4-byte form. The reader mirrors
//! `DataInputStream.readUTF`, including its leniency (raw `00`, overlong forms and
//! unpaired surrogates are accepted) and its error texts, so that what Lavalink accepts
//! decodes here and what it rejects fails here with the same message.

use thiserror::Error;

/// Largest byte count a Java UTF can carry (its length prefix is a u16).
pub const MAX_UTF_BYTES: usize = u16::MAX as usize;

/// A byte sequence Java's `readUTF` rejects; texts are `UTFDataFormatException`'s.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Mutf8Error {
    /// Bad lead byte (`10xxxxxx`, `1111xxxx`) or bad continuation byte; `byte` is the
    /// index Java reports.
    #[error("malformed input around byte {byte}")]
    Malformed { byte: usize },
    /// A multi-byte group runs past the end of the string.
    #[error("malformed input: partial character at end")]
    PartialAtEnd,
}

/// Number of modified UTF-8 bytes `s` needs.
pub fn encoded_len(s: &str) -> usize {
    s.encode_utf16().map(unit_len).sum()
}

fn unit_len(u: u16) -> usize {
    match u {
        0x0001..=0x007F => 1,
        0x0000 | 0x0080..=0x07FF => 2,
        _ => 3,
    }
}

fn push_unit(u: u16, out: &mut Vec<u8>) {
    match unit_len(u) {
        1 => out.push(u as u8),
        2 => {
            out.push(0xC0 | ((u >> 6) as u8 & 0x1F));
            out.push(0x80 | (u as u8 & 0x3F));
        }
        _ => {
            out.push(0xE0 | ((u >> 12) as u8 & 0x0F));
            out.push(0x80 | ((u >> 6) as u8 & 0x3F));
            out.push(0x80 | (u as u8 & 0x3F));
        }
    }
}

/// Appends the modified UTF-8 bytes of `s` (no length prefix).
pub fn encode_into(s: &str, out: &mut Vec<u8>) {
    for u in s.encode_utf16() {
        push_unit(u, out);
    }
}

/// Appends `s` as a Java UTF: u16 big-endian byte count, then the bytes.
///
/// Java's writer throws for strings over 65 535 bytes; an encoder that returns a
/// `String` cannot fail, so such a string is cut at the last whole character that fits
/// (never between the halves of a surrogate pair). Only absurd titles from remote
/// metadata can get there; every string decoded from a blob fits by construction.
pub fn write_utf(s: &str, out: &mut Vec<u8>) {
    let len_at = out.len();
    out.extend_from_slice(&[0, 0]);
    let mut written = 0usize;
    let mut units = s.encode_utf16().peekable();
    while let Some(u) = units.next() {
        let is_pair = (0xD800..0xDC00).contains(&u)
            && units.peek().is_some_and(|n| (0xDC00..0xE000).contains(n));
        let need = if is_pair { 6 } else { unit_len(u) };
        if written + need > MAX_UTF_BYTES {
            break;
        }
        push_unit(u, out);
        if is_pair {
            if let Some(low) = units.next() {
                push_unit(low, out);
            }
        }
        written += need;
    }
    out[len_at..len_at + 2].copy_from_slice(&(written as u16).to_be_bytes());
}

/// Decodes modified UTF-8 bytes (without the length prefix) as Java's `readUTF` does,
/// then converts the UTF-16 units to a Rust string (unpaired surrogates → U+FFFD).
pub fn decode(bytes: &[u8]) -> Result<String, Mutf8Error> {
    // Fast path: all ASCII (the common case for ids and URLs).
    if bytes.iter().all(|&b| b < 0x80) {
        // All bytes < 0x80 are valid UTF-8; a raw 00 is NUL in both encodings.
        return Ok(bytes.iter().map(|&b| b as char).collect());
    }
    let len = bytes.len();
    let mut units: Vec<u16> = Vec::with_capacity(len);
    let mut count = 0usize;
    while count < len {
        let c = bytes[count] as u16;
        match c >> 4 {
            0..=7 => {
                count += 1;
                units.push(c);
            }
            12 | 13 => {
                count += 2;
                if count > len {
                    return Err(Mutf8Error::PartialAtEnd);
                }
                let c2 = bytes[count - 1] as u16;
                if c2 & 0xC0 != 0x80 {
                    return Err(Mutf8Error::Malformed { byte: count });
                }
                units.push(((c & 0x1F) << 6) | (c2 & 0x3F));
            }
            14 => {
                count += 3;
                if count > len {
                    return Err(Mutf8Error::PartialAtEnd);
                }
                let c2 = bytes[count - 2] as u16;
                let c3 = bytes[count - 1] as u16;
                if c2 & 0xC0 != 0x80 || c3 & 0xC0 != 0x80 {
                    return Err(Mutf8Error::Malformed { byte: count - 1 });
                }
                units.push(((c & 0x0F) << 12) | ((c2 & 0x3F) << 6) | (c3 & 0x3F));
            }
            _ => return Err(Mutf8Error::Malformed { byte: count }),
        }
    }
    Ok(String::from_utf16_lossy(&units))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(s: &str) -> Vec<u8> {
        let mut v = Vec::new();
        encode_into(s, &mut v);
        assert_eq!(v.len(), encoded_len(s));
        v
    }

    #[test]
    fn ascii_round_trip() {
        assert_eq!(enc("abc"), b"abc");
        assert_eq!(decode(b"abc").unwrap(), "abc");
        assert_eq!(decode(b"").unwrap(), "");
    }

    #[test]
    fn nul_is_two_bytes_and_raw_zero_is_accepted() {
        assert_eq!(enc("a\0b"), [b'a', 0xC0, 0x80, b'b']);
        assert_eq!(decode(&[b'a', 0xC0, 0x80, b'b']).unwrap(), "a\0b");
        assert_eq!(decode(&[0x00]).unwrap(), "\0");
        assert_eq!(decode(&[0x00, 0xC3, 0xA9]).unwrap(), "\0é");
    }

    #[test]
    fn two_and_three_byte_forms() {
        assert_eq!(enc("é"), [0xC3, 0xA9]);
        assert_eq!(enc("\u{7FF}"), [0xDF, 0xBF]);
        assert_eq!(enc("\u{800}"), [0xE0, 0xA0, 0x80]);
        assert_eq!(enc("君"), "君".as_bytes());
        assert_eq!(decode("君に届け".as_bytes()).unwrap(), "君に届け");
    }

    #[test]
    fn supplementary_is_a_six_byte_surrogate_pair() {
        let b = enc("🌿");
        assert_eq!(b, [0xED, 0xA0, 0xBC, 0xED, 0xBC, 0xBF]);
        assert_eq!(decode(&b).unwrap(), "🌿");
        assert_eq!(encoded_len("headaches🌿"), 9 + 6);
    }

    #[test]
    fn four_byte_utf8_is_rejected() {
        // Standard UTF-8 for 🌿; Java rejects the F0 lead byte at its index.
        assert_eq!(
            decode(&[b'x', 0xF0, 0x9F, 0x8C, 0xBF]),
            Err(Mutf8Error::Malformed { byte: 1 })
        );
        assert_eq!(
            decode(&[0xF0, 0x9F, 0x8C, 0xBF]).unwrap_err().to_string(),
            "malformed input around byte 0"
        );
    }

    #[test]
    fn bad_lead_and_continuation_bytes() {
        assert_eq!(decode(&[0x80]), Err(Mutf8Error::Malformed { byte: 0 }));
        assert_eq!(
            decode(&[b'a', 0xBF]),
            Err(Mutf8Error::Malformed { byte: 1 })
        );
        assert_eq!(decode(&[0xFF]), Err(Mutf8Error::Malformed { byte: 0 }));
        // 2-byte group with a bad second byte: Java reports the index after the group.
        assert_eq!(
            decode(&[0xC3, 0x41]),
            Err(Mutf8Error::Malformed { byte: 2 })
        );
        // 3-byte group with a bad continuation: Java reports count - 1.
        assert_eq!(
            decode(&[0xE3, 0x81, 0x41]),
            Err(Mutf8Error::Malformed { byte: 2 })
        );
    }

    #[test]
    fn partial_character_at_end() {
        assert_eq!(decode(&[0xC3]), Err(Mutf8Error::PartialAtEnd));
        assert_eq!(decode(&[b'a', 0xE3, 0x81]), Err(Mutf8Error::PartialAtEnd));
        assert_eq!(
            Mutf8Error::PartialAtEnd.to_string(),
            "malformed input: partial character at end"
        );
    }

    #[test]
    fn unpaired_surrogates_become_replacement_chars() {
        // Lone high surrogate D83C, then 'a'.
        assert_eq!(decode(&[0xED, 0xA0, 0xBC, b'a']).unwrap(), "\u{FFFD}a");
        // Lone low surrogate DF3F.
        assert_eq!(decode(&[0xED, 0xBC, 0xBF]).unwrap(), "\u{FFFD}");
        // Reversed pair: two replacement chars.
        assert_eq!(
            decode(&[0xED, 0xBC, 0xBF, 0xED, 0xA0, 0xBC]).unwrap(),
            "\u{FFFD}\u{FFFD}"
        );
    }

    #[test]
    fn overlong_forms_are_accepted_like_java() {
        assert_eq!(decode(&[0xC1, 0x81]).unwrap(), "A");
        assert_eq!(decode(&[0xE0, 0x80, 0x80]).unwrap(), "\0");
    }

    #[test]
    fn write_utf_prefixes_byte_count() {
        let mut v = Vec::new();
        write_utf("a🌿", &mut v);
        assert_eq!(v, [0, 7, b'a', 0xED, 0xA0, 0xBC, 0xED, 0xBC, 0xBF]);
    }

    #[test]
    fn write_utf_truncates_without_splitting_pairs() {
        let s = format!("{}🌿", "a".repeat(MAX_UTF_BYTES - 3));
        let mut v = Vec::new();
        write_utf(&s, &mut v);
        assert_eq!(u16::from_be_bytes([v[0], v[1]]) as usize, MAX_UTF_BYTES - 3);
        assert_eq!(v.len(), 2 + MAX_UTF_BYTES - 3);
        let s = "é".repeat(40_000);
        let mut v = Vec::new();
        write_utf(&s, &mut v);
        assert_eq!(u16::from_be_bytes([v[0], v[1]]) as usize, 65_534);
        assert_eq!(decode(&v[2..]).unwrap(), "é".repeat(32_767));
    }
}
