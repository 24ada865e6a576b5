//! Deezer full streams (LavaSrc's method, when `master_decryption_key` and `arl` are
//! configured): the logged-in session's `song.getData` gives the track token (or a
//! licensed fallback track's), `media.deezer.com/v1/get_url` the media URL for the first
//! available configured format, and the file is "BF_CBC_STRIPE": every third 2048-byte
//! chunk (indices 0, 3, 6…) is Blowfish-CBC with IV 0..7, restarted per chunk; a final
//! short chunk is plain. The key is the track id's MD5 in lower-case hex, the two halves
//! XOR'ed with each other and the master key.
//!
//! Unlike LavaSrc (which skips to the next chunk boundary after a seek), a seek lands on
//! the exact byte: the chunk holding it is fetched from its start and decrypted.

use std::io::{self, Read, Seek, SeekFrom};

use blowfish::cipher::{BlockDecryptMut, KeyIvInit};
use md5::{Digest, Md5};
use serde_json::{json, Value};

use super::deezer::{Deezer, UserSession};
use crate::source::http::HttpStream;
use crate::source::{MediaInput, SourceError};
use crate::track::{Severity, TrackData};

const PRIVATE_API: &str = "https://www.deezer.com/ajax/gw-light.php";
const MEDIA_API: &str = "https://media.deezer.com/v1/get_url";
pub const CHUNK: usize = 2048;
const IV: [u8; 8] = [0, 1, 2, 3, 4, 5, 6, 7];
/// LavaSrc's default formats.
const DEFAULT_FORMATS: [&str; 2] = ["MP3_128", "MP3_64"];

type Decryptor = cbc::Decryptor<blowfish::Blowfish>;

/// The per-track Blowfish key.
pub fn track_key(track_id: &str, master: &[u8]) -> [u8; 16] {
    let digest = Md5::digest(track_id.as_bytes());
    let hex: Vec<u8> = digest
        .iter()
        .flat_map(|b| format!("{b:02x}").into_bytes())
        .collect();
    let mut key = [0u8; 16];
    for (i, k) in key.iter_mut().enumerate() {
        *k = hex[i] ^ hex[i + 16] ^ master.get(i).copied().unwrap_or(0);
    }
    key
}

/// Decrypts one full chunk in place (CBC restarted with the fixed IV).
pub fn decrypt_chunk(key: &[u8; 16], chunk: &mut [u8]) {
    let mut d = Decryptor::new_from_slices(key, &IV).expect("16-byte key, 8-byte IV");
    for block in chunk.chunks_exact_mut(8) {
        d.decrypt_block_mut(block.into());
    }
}

/// A seekable reader of the decrypted stream over the encrypted one.
pub struct StripeReader<R> {
    inner: R,
    key: [u8; 16],
    len: Option<u64>,
    /// The logical (and encrypted) position.
    pos: u64,
    /// Where `inner` is.
    inner_pos: u64,
    buf: Box<[u8; CHUNK]>,
    /// Index and filled length of the chunk in `buf`.
    loaded: Option<(u64, usize)>,
}

impl<R: Read + Seek> StripeReader<R> {
    pub fn new(inner: R, key: [u8; 16], len: Option<u64>) -> StripeReader<R> {
        StripeReader {
            inner,
            key,
            len,
            pos: 0,
            inner_pos: 0,
            buf: Box::new([0; CHUNK]),
            loaded: None,
        }
    }

    /// Loads chunk `index` (fetching from its start) and decrypts it when it is a
    /// full chunk whose index is a multiple of three.
    fn load(&mut self, index: u64) -> io::Result<usize> {
        let start = index * CHUNK as u64;
        if self.inner_pos != start {
            self.inner.seek(SeekFrom::Start(start))?;
            self.inner_pos = start;
        }
        let mut filled = 0;
        while filled < CHUNK {
            match self.inner.read(&mut self.buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.loaded = None;
                    return Err(e);
                }
            }
        }
        self.inner_pos += filled as u64;
        if filled == CHUNK && index.is_multiple_of(3) {
            decrypt_chunk(&self.key, &mut self.buf[..]);
        }
        self.loaded = Some((index, filled));
        Ok(filled)
    }
}

impl<R: Read + Seek> Read for StripeReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        let index = self.pos / CHUNK as u64;
        let within = (self.pos % CHUNK as u64) as usize;
        let filled = match self.loaded {
            Some((i, n)) if i == index => n,
            _ => self.load(index)?,
        };
        if within >= filled {
            return Ok(0);
        }
        let n = out.len().min(filled - within);
        out[..n].copy_from_slice(&self.buf[within..within + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: Read + Seek> Seek for StripeReader<R> {
    fn seek(&mut self, from: SeekFrom) -> io::Result<u64> {
        let target = crate::source::seek_target(self.pos, self.len, from)?;
        self.pos = target;
        Ok(target)
    }
}

impl symphonia::core::io::MediaSource for StripeReader<HttpStream> {
    fn is_seekable(&self) -> bool {
        self.inner.is_seekable()
    }
    fn byte_len(&self) -> Option<u64> {
        self.len
    }
}

fn failure(message: &str, cause: String) -> SourceError {
    SourceError::friendly(message, Severity::Suspicious, cause)
}

/// The media URL, its format and the id whose key decrypts it.
fn media_url(
    s: &UserSession,
    track_id: &str,
    formats: &[String],
) -> Result<(String, String, String), SourceError> {
    let url = format!(
        "{PRIVATE_API}?method=song.getData&input=3&api_version=1.0&api_token={}",
        s.api_token
    );
    let data = s
        .net
        .post(&url)
        .json(&json!({"sng_id": track_id}))
        .send()
        .and_then(|r| r.json())
        .map_err(|e| {
            failure(
                "Failed to get track token",
                format!("java.io.IOException: {e}"),
            )
        })?;
    super::deezer::check_private(&data, "Failed to get track token")?;
    let mut results = &data["results"];
    let mut key_id = track_id.to_string();
    let no_rights = match &results["RIGHTS"] {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => true,
    };
    if no_rights && results["FALLBACK"]["TRACK_TOKEN"].is_string() {
        if let Some(id) = super::text(&results["FALLBACK"]["SNG_ID"]) {
            key_id = id;
        }
        results = &results["FALLBACK"];
    }
    let token = super::text(&results["TRACK_TOKEN"]).ok_or_else(|| {
        failure(
            "Failed to get track token",
            "java.lang.IllegalStateException: no TRACK_TOKEN".into(),
        )
    })?;
    let formats: Vec<Value> = if formats.is_empty() {
        DEFAULT_FORMATS
            .iter()
            .map(|f| json!({"cipher": "BF_CBC_STRIPE", "format": f}))
            .collect()
    } else {
        formats
            .iter()
            .map(|f| json!({"cipher": "BF_CBC_STRIPE", "format": f}))
            .collect()
    };
    let body = json!({
        "license_token": s.license_token,
        "media": [{"type": "FULL", "formats": formats}],
        "track_tokens": [token],
    });
    let resp = s
        .net
        .post(MEDIA_API)
        .json(&body)
        .send()
        .and_then(|r| r.json())
        .map_err(|e| {
            failure(
                "Failed to get media URL",
                format!("java.io.IOException: {e}"),
            )
        })?;
    let media = &resp["data"][0]["media"][0];
    let (Some(format), Some(url)) = (
        super::text(&media["format"]),
        super::text(&media["sources"][0]["url"]),
    ) else {
        let why = resp["data"][0]["errors"][0]["message"]
            .as_str()
            .unwrap_or("No media found in response");
        return Err(failure(
            "Failed to get media URL",
            format!("java.lang.IllegalStateException: {why}"),
        ));
    };
    Ok((url, format, key_id))
}

/// Opens a Deezer track's full stream.
pub fn open(deezer: &Deezer, track: &TrackData) -> Result<MediaInput, SourceError> {
    let config = deezer.config();
    let session = deezer.user_session()?;
    let (url, format, key_id) = media_url(&session, &track.info.identifier, &config.formats)?;
    let url = crate::net::Url::parse(&url).map_err(|e| {
        failure(
            "Failed to get media URL",
            format!("java.net.URISyntaxException: {e}"),
        )
    })?;
    let (stream, mime) = HttpStream::open_url(&session.net, &url)?;
    let len = stream.total_len();
    let key = track_key(&key_id, config.master_decryption_key.as_bytes());
    let extension = match format.as_str() {
        "FLAC" => "flac",
        "AAC_64" => "mp4",
        _ => "mp3",
    };
    Ok(MediaInput {
        reader: Box::new(StripeReader::new(stream, key, len)),
        extension: Some(extension.into()),
        mime,
        is_stream: false,
        segments: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use blowfish::cipher::BlockEncryptMut;
    use std::io::Cursor;

    fn encrypt(key: &[u8; 16], plain: &[u8]) -> Vec<u8> {
        let mut out = plain.to_vec();
        for (i, chunk) in out.chunks_mut(CHUNK).enumerate() {
            if i % 3 == 0 && chunk.len() == CHUNK {
                let mut e =
                    cbc::Encryptor::<blowfish::Blowfish>::new_from_slices(key, &IV).unwrap();
                for b in chunk.chunks_exact_mut(8) {
                    e.encrypt_block_mut(b.into());
                }
            }
        }
        out
    }

    #[test]
    fn key_derivation() {
        // md5("3135556") in hex, halves XOR'ed, then XOR'ed with the master key.
        let hex = format!("{:x}", Md5::digest(b"3135556"));
        let master = b"g4el58wc0zvf9na1";
        let k = track_key("3135556", master);
        for i in 0..16 {
            assert_eq!(k[i], hex.as_bytes()[i] ^ hex.as_bytes()[i + 16] ^ master[i]);
        }
    }

    #[test]
    fn stripes_decrypt_and_seek_exactly() {
        let key = track_key("42", b"0123456789abcdef");
        let plain: Vec<u8> = (0..(CHUNK * 7 + 1000))
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let enc = encrypt(&key, &plain);
        assert_ne!(&enc[..CHUNK], &plain[..CHUNK]);
        assert_eq!(&enc[CHUNK..2 * CHUNK], &plain[CHUNK..2 * CHUNK]);
        let len = enc.len() as u64;
        let mut r = StripeReader::new(Cursor::new(enc), key, Some(len));
        let mut all = Vec::new();
        r.read_to_end(&mut all).unwrap();
        assert_eq!(all, plain);
        for at in [0u64, 5, 2047, 2048, 6000, 6144 + 17, len - 3] {
            r.seek(SeekFrom::Start(at)).unwrap();
            let mut b = [0u8; 3000];
            let n = r.read(&mut b).unwrap();
            assert!(n > 0);
            assert_eq!(&b[..n], &plain[at as usize..at as usize + n], "at {at}");
        }
    }
}
