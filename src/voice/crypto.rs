//! Transport encryption (the two `*_rtpsize` AEAD modes) and DAVE per-frame media encryption.
//!
//! Everything here works on caller-provided buffers: the pacer thread calls it for every packet,
//! so nothing allocates. The DAVE frame encryptor is our own (davey keeps its encryptor private
//! behind `&mut DaveSession`, which the MLS thread needs); it reproduces davey's/libdave's frame
//! layout and sender-key ratchet exactly and is checked against davey's decryptor in the tests.

use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use chacha20poly1305::XChaCha20Poly1305;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Size of the RTP header we send (no CSRC, no extension).
pub const RTP_HEADER_LEN: usize = 12;
/// Transport AEAD tag size (both modes).
pub const TRANSPORT_TAG_LEN: usize = 16;
/// The 4-byte nonce counter appended after the tag.
pub const TRANSPORT_NONCE_SUFFIX_LEN: usize = 4;
/// Bytes DAVE adds to an Opus frame at most: tag 8 + nonce ≤ 5 + size 1 + marker 2.
pub const DAVE_MAX_OVERHEAD: usize = 16;
/// The Opus silence frame; sent without DAVE encryption (§5.6).
pub const OPUS_SILENCE: [u8; 3] = [0xF8, 0xFF, 0xFE];

/// The transport encryption modes we implement, in our order of preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Aes256Gcm,
    XChaCha20Poly1305,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Aes256Gcm => "aead_aes256_gcm_rtpsize",
            Mode::XChaCha20Poly1305 => "aead_xchacha20_poly1305_rtpsize",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "aead_aes256_gcm_rtpsize" => Some(Mode::Aes256Gcm),
            "aead_xchacha20_poly1305_rtpsize" => Some(Mode::XChaCha20Poly1305),
            _ => None,
        }
    }

    /// Our preference, never the server's list order: AES-GCM when offered, else XChaCha.
    pub fn choose<S: AsRef<str>>(offered: &[S]) -> Option<Mode> {
        let has = |m: Mode| offered.iter().any(|s| s.as_ref() == m.as_str());
        if has(Mode::Aes256Gcm) {
            Some(Mode::Aes256Gcm)
        } else if has(Mode::XChaCha20Poly1305) {
            Some(Mode::XChaCha20Poly1305)
        } else {
            None
        }
    }
}

/// A keyed transport cipher. Plain data (no heap), so it can be moved to and dropped on the
/// pacer thread freely.
// Inline on purpose: boxing would make the pacer free memory when a key is replaced.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub enum TransportCipher {
    Aes(Aes256Gcm),
    XChaCha(XChaCha20Poly1305),
}

impl TransportCipher {
    pub fn new(mode: Mode, key: &[u8; 32]) -> TransportCipher {
        match mode {
            Mode::Aes256Gcm => TransportCipher::Aes(Aes256Gcm::new(GenericArray::from_slice(key))),
            Mode::XChaCha20Poly1305 => {
                TransportCipher::XChaCha(XChaCha20Poly1305::new(GenericArray::from_slice(key)))
            }
        }
    }

    pub fn mode(&self) -> Mode {
        match self {
            TransportCipher::Aes(_) => Mode::Aes256Gcm,
            TransportCipher::XChaCha(_) => Mode::XChaCha20Poly1305,
        }
    }

    /// Encrypts in place. `packet[..RTP_HEADER_LEN]` is the header (the AAD), the payload is
    /// `packet[RTP_HEADER_LEN..RTP_HEADER_LEN + payload_len]`; tag and counter are appended.
    /// Returns the packet length, or None if `packet` is too short.
    pub fn seal(&self, packet: &mut [u8], payload_len: usize, counter: u32) -> Option<usize> {
        let end = RTP_HEADER_LEN + payload_len;
        let total = end + TRANSPORT_TAG_LEN + TRANSPORT_NONCE_SUFFIX_LEN;
        if packet.len() < total {
            return None;
        }
        let suffix = counter.to_be_bytes();
        let (header, rest) = packet.split_at_mut(RTP_HEADER_LEN);
        let payload = &mut rest[..payload_len];
        let tag = match self {
            TransportCipher::Aes(c) => {
                let mut nonce = [0u8; 12];
                nonce[..4].copy_from_slice(&suffix);
                c.encrypt_in_place_detached(GenericArray::from_slice(&nonce), header, payload)
                    .ok()?
            }
            TransportCipher::XChaCha(c) => {
                let mut nonce = [0u8; 24];
                nonce[..4].copy_from_slice(&suffix);
                c.encrypt_in_place_detached(GenericArray::from_slice(&nonce), header, payload)
                    .ok()?
            }
        };
        packet[end..end + TRANSPORT_TAG_LEN].copy_from_slice(&tag);
        packet[end + TRANSPORT_TAG_LEN..total].copy_from_slice(&suffix);
        Some(total)
    }

    /// Decrypts an rtpsize packet as a receiver would (§3.4): AAD = 12 + 4·CC (+4 if X) header
    /// bytes, last 4 bytes = nonce seed, 16 before them = tag. Returns the payload with any
    /// extension body and padding removed. For the fake server, the fuzzer and a receive path.
    pub fn open(&self, packet: &[u8]) -> Option<Vec<u8>> {
        if packet.len() < RTP_HEADER_LEN || packet[0] >> 6 != 2 {
            return None;
        }
        let cc = (packet[0] & 0x0F) as usize;
        let has_ext = packet[0] & 0x10 != 0;
        let has_pad = packet[0] & 0x20 != 0;
        let header_len = RTP_HEADER_LEN + 4 * cc + if has_ext { 4 } else { 0 };
        if packet.len() < header_len + TRANSPORT_TAG_LEN + TRANSPORT_NONCE_SUFFIX_LEN {
            return None;
        }
        let suffix_at = packet.len() - TRANSPORT_NONCE_SUFFIX_LEN;
        let tag_at = suffix_at - TRANSPORT_TAG_LEN;
        let aad = &packet[..header_len];
        let mut body = packet[header_len..tag_at].to_vec();
        let tag = GenericArray::from_slice(&packet[tag_at..suffix_at]);
        let suffix = &packet[suffix_at..];
        match self {
            TransportCipher::Aes(c) => {
                let mut nonce = [0u8; 12];
                nonce[..4].copy_from_slice(suffix);
                c.decrypt_in_place_detached(GenericArray::from_slice(&nonce), aad, &mut body, tag)
                    .ok()?
            }
            TransportCipher::XChaCha(c) => {
                let mut nonce = [0u8; 24];
                nonce[..4].copy_from_slice(suffix);
                c.decrypt_in_place_detached(GenericArray::from_slice(&nonce), aad, &mut body, tag)
                    .ok()?
            }
        }
        if has_ext {
            let words = u16::from_be_bytes([packet[header_len - 2], packet[header_len - 1]]);
            let skip = 4 * words as usize;
            if skip > body.len() {
                return None;
            }
            body.drain(..skip);
        }
        if has_pad {
            let pad = *body.last()? as usize;
            if pad == 0 || pad > body.len() {
                return None;
            }
            body.truncate(body.len() - pad);
        }
        Some(body)
    }
}

/// Writes the 12-byte RTP header we send (§3.2).
pub fn write_rtp_header(buf: &mut [u8], seq: u16, timestamp: u32, ssrc: u32) {
    buf[0] = 0x80;
    buf[1] = 0x78;
    buf[2..4].copy_from_slice(&seq.to_be_bytes());
    buf[4..8].copy_from_slice(&timestamp.to_be_bytes());
    buf[8..12].copy_from_slice(&ssrc.to_be_bytes());
}

type HmacSha256 = Hmac<Sha256>;

/// MLS `DeriveTreeSecret(secret, label, generation, length)` as mlspp computes it (HKDF-Expand
/// with an MLS "MLS 1.0 " label, context = generation big-endian), for lengths ≤ 32.
fn derive_tree_secret(secret: &[u8], label: &str, generation: u32, out: &mut [u8]) {
    debug_assert!(out.len() <= 32 && label.len() <= 16);
    // KDFLabel { uint16 length; opaque label<V>; opaque context<V> } + HKDF counter byte 0x01.
    let mut info = [0u8; 2 + 1 + 8 + 16 + 1 + 4 + 1];
    let mut n = 0;
    info[..2].copy_from_slice(&(out.len() as u16).to_be_bytes());
    n += 2;
    info[n] = (8 + label.len()) as u8;
    n += 1;
    info[n..n + 8].copy_from_slice(b"MLS 1.0 ");
    n += 8;
    info[n..n + label.len()].copy_from_slice(label.as_bytes());
    n += label.len();
    info[n] = 4;
    n += 1;
    info[n..n + 4].copy_from_slice(&generation.to_be_bytes());
    n += 4;
    info[n] = 1;
    n += 1;
    // Any key length is valid for HMAC.
    let Ok(mut mac) = <HmacSha256 as Mac>::new_from_slice(secret) else {
        return;
    };
    mac.update(&info[..n]);
    let block = mac.finalize().into_bytes();
    out.copy_from_slice(&block[..out.len()]);
}

/// The sender's DAVE key for one epoch: a hash ratchet seeded with the MLS exporter secret
/// (16 bytes) and an AES-128-GCM cipher for the current generation. Heap-free; the MLS thread
/// builds it, the pacer thread owns and uses it.
#[derive(Clone)]
pub struct DaveEncryptor {
    domain: [u8; 16],
    /// Ratchet secret for `next_generation` (16 bytes for generation 0, then 32).
    next_secret: [u8; 32],
    next_secret_len: usize,
    next_generation: u32,
    generation: u32,
    cipher: Aes128Gcm,
    /// Truncated frame nonce; pre-incremented, so the first frame uses 1.
    nonce: u32,
}

impl DaveEncryptor {
    /// `base_secret` = MLS-Exporter("Discord Secure Frames v0", own user id LE, 16).
    pub fn new(base_secret: &[u8; 16]) -> DaveEncryptor {
        let mut next_secret = [0u8; 32];
        next_secret[..16].copy_from_slice(base_secret);
        let mut enc = DaveEncryptor {
            domain: *base_secret,
            next_secret,
            next_secret_len: 16,
            next_generation: 0,
            generation: 0,
            cipher: Aes128Gcm::new(GenericArray::from_slice(&[0u8; 16])),
            nonce: 0,
        };
        enc.cipher = enc.advance_to(0);
        enc
    }

    /// Same key domain (epoch × user): re-installing it must not restart the nonce sequence.
    pub fn same_domain(&self, other: &DaveEncryptor) -> bool {
        self.domain == other.domain
    }

    /// Ratchets forward to `generation` (only ever forward) and returns its cipher.
    fn advance_to(&mut self, generation: u32) -> Aes128Gcm {
        let mut key = [0u8; 16];
        while self.next_generation <= generation {
            let g = self.next_generation;
            let secret = &self.next_secret[..self.next_secret_len];
            if g == generation {
                derive_tree_secret(secret, "key", g, &mut key);
            }
            let mut next = [0u8; 32];
            derive_tree_secret(secret, "secret", g, &mut next);
            self.next_secret = next;
            self.next_secret_len = 32;
            self.next_generation = g.wrapping_add(1);
            if self.next_generation == 0 {
                break;
            }
        }
        Aes128Gcm::new(GenericArray::from_slice(&key))
    }

    /// Encrypts one Opus frame into `out` (≥ frame.len() + DAVE_MAX_OVERHEAD) in DAVE's
    /// protocol-frame layout (§5.5). Returns the written length.
    pub fn encrypt_opus(&mut self, frame: &[u8], out: &mut [u8]) -> Option<usize> {
        if out.len() < frame.len() + DAVE_MAX_OVERHEAD {
            return None;
        }
        self.nonce = self.nonce.wrapping_add(1);
        // Generation = top byte of the nonce, continued past wraps of that byte.
        let low = self.nonce >> 24;
        let mut generation = (self.generation & !0xFF) | low;
        if generation < self.generation {
            generation = generation.wrapping_add(0x100);
        }
        if generation != self.generation {
            self.cipher = self.advance_to(generation);
            self.generation = generation;
        }
        let mut nonce = [0u8; 12];
        nonce[8..].copy_from_slice(&self.nonce.to_le_bytes());
        let n = frame.len();
        out[..n].copy_from_slice(frame);
        let tag = self
            .cipher
            .encrypt_in_place_detached(GenericArray::from_slice(&nonce), &[], &mut out[..n])
            .ok()?;
        out[n..n + 8].copy_from_slice(&tag[..8]);
        let mut at = n + 8;
        let mut v = self.nonce;
        let nonce_start = at;
        loop {
            let byte = (v & 0x7F) as u8;
            v >>= 7;
            if v == 0 {
                out[at] = byte;
                at += 1;
                break;
            }
            out[at] = byte | 0x80;
            at += 1;
        }
        let nonce_len = at - nonce_start;
        out[at] = (8 + nonce_len + 1 + 2) as u8;
        out[at + 1] = 0xFA;
        out[at + 2] = 0xFA;
        Some(at + 3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn vector(mode: Mode) -> String {
        let key: [u8; 32] = core::array::from_fn(|i| i as u8);
        let c = TransportCipher::new(mode, &key);
        let mut buf = [0u8; 64];
        write_rtp_header(&mut buf, 1, 960, 42);
        buf[12..15].copy_from_slice(&OPUS_SILENCE);
        let n = c.seal(&mut buf, 3, 5).unwrap();
        assert_eq!(c.open(&buf[..n]).unwrap(), OPUS_SILENCE);
        hex(&buf[..n])
    }

    #[test]
    fn transport_known_answers() {
        assert_eq!(
            vector(Mode::Aes256Gcm),
            "80780001000003c00000002ab14452f05d3f06d19b8acfe889ee28d018245500000005"
        );
        assert_eq!(
            vector(Mode::XChaCha20Poly1305),
            "80780001000003c00000002a2c1d468fc5cf1fbd60be42d2e28da18daf092d00000005"
        );
    }

    #[test]
    fn mode_preference_ignores_server_order() {
        let offered = [
            "xsalsa20_poly1305",
            "aead_xchacha20_poly1305_rtpsize",
            "aead_aes256_gcm_rtpsize",
        ];
        assert_eq!(Mode::choose(&offered), Some(Mode::Aes256Gcm));
        assert_eq!(
            Mode::choose(&["aead_xchacha20_poly1305_rtpsize"]),
            Some(Mode::XChaCha20Poly1305)
        );
        assert_eq!(Mode::choose(&["xsalsa20_poly1305_lite"]), None);
    }

    #[test]
    fn dave_frame_known_answer() {
        // Spec §5.5 vector: AES-128 key 00..0f, counter 1, Opus fc 01 02 03.
        let mut e = DaveEncryptor::new(&[0u8; 16]);
        e.cipher = Aes128Gcm::new(GenericArray::from_slice(
            &core::array::from_fn::<u8, 16, _>(|i| i as u8),
        ));
        let mut out = [0u8; 32];
        let n = e.encrypt_opus(&[0xfc, 1, 2, 3], &mut out).unwrap();
        assert_eq!(hex(&out[..n]), "8f653faebd82c6a16319d889010cfafa");
    }

    #[test]
    fn open_rejects_garbage() {
        let c = TransportCipher::new(Mode::Aes256Gcm, &[7u8; 32]);
        assert!(c.open(&[]).is_none());
        assert!(c.open(&[0x80; 31]).is_none());
        assert!(c.open(&[0x9f; 120]).is_none());
    }
}
