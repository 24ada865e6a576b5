//! The `local` source (sources.md §9): existing, readable regular files, detected with the
//! same probes as HTTP and the file extension as the only hint.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use super::playlist::{self, Parsed, MAX_PLAYLIST_BYTES};
use super::probe::{self, Hints, ProbeKind, HEAD_LEN};
use super::{mpegts, probed_track, Answer, LoadRequest, MediaInput, SourceError};

pub struct LocalSource;

impl Default for LocalSource {
    fn default() -> Self {
        LocalSource::new()
    }
}

impl LocalSource {
    pub fn new() -> LocalSource {
        LocalSource
    }

    fn load_file(&self, req: &LoadRequest<'_>) -> Answer {
        let path = Path::new(req.identifier);
        // Anything but an existing, readable regular file is not ours.
        if !path.metadata().is_ok_and(|m| m.is_file()) {
            return Answer::NotMine;
        }
        let Ok(mut file) = File::open(path) else {
            return Answer::NotMine;
        };
        match self.probe(req, path, &mut file) {
            Ok(a) => a,
            Err(e) => Answer::Error(e),
        }
    }

    fn probe(
        &self,
        req: &LoadRequest<'_>,
        path: &Path,
        file: &mut File,
    ) -> Result<Answer, SourceError> {
        let detection = |e: std::io::Error| SourceError::Detection(e.to_string());
        let hints = Hints {
            mime: None,
            extension: path.extension().map(|e| e.to_string_lossy().into_owned()),
        };
        let mut head = Vec::with_capacity(HEAD_LEN);
        file.by_ref()
            .take(HEAD_LEN as u64)
            .read_to_end(&mut head)
            .map_err(detection)?;
        let kind = match req
            .descriptor
            .and_then(|d| ProbeKind::from_name(d.split('|').next().unwrap_or(d)))
        {
            Some(k) => k,
            None => probe::detect(&head, &hints).ok_or(SourceError::UnknownFormat)?,
        };
        if !kind.is_media() {
            let mut text = head;
            file.by_ref()
                .take(MAX_PLAYLIST_BYTES)
                .read_to_end(&mut text)
                .map_err(detection)?;
            let text = String::from_utf8_lossy(&text);
            return Ok(match playlist::parse(kind, &text)? {
                // HLS in a local file: hand its first entry to the http source as a media playlist.
                Parsed::Hls {
                    first_uri: Some(uri),
                    first_title,
                } => Answer::Reference {
                    identifier: uri,
                    title: first_title.or(req.title.map(str::to_string)),
                    descriptor: Some("m3u|hls-inner".into()),
                },
                Parsed::Hls {
                    first_uri: None, ..
                } => return Err(SourceError::NoLinks),
                Parsed::Entries(entries) if entries.len() == 1 => {
                    let (identifier, title) = entries.into_iter().next().unwrap_or_default();
                    Answer::Reference {
                        identifier,
                        title,
                        descriptor: None,
                    }
                }
                Parsed::Entries(entries) => {
                    let name = path.file_name().map_or_else(
                        || req.identifier.to_string(),
                        |n| n.to_string_lossy().into_owned(),
                    );
                    Answer::References { name, entries }
                }
            });
        }
        let file = file.try_clone().map_err(detection)?;
        let mut file = file;
        file.seek(SeekFrom::Start(0)).map_err(detection)?;
        let info = probe::media_info(kind, Box::new(file), &hints)?;
        Ok(Answer::Track(probed_track(
            "local",
            req.identifier,
            req.title,
            info,
            kind.name(),
        )))
    }

    /// Opens a saved local track; seeks are native.
    pub fn open_file(
        &self,
        path: &str,
        descriptor: &str,
        is_stream: bool,
    ) -> Result<MediaInput, SourceError> {
        let probe_name = descriptor.split('|').next().unwrap_or(descriptor);
        let kind = ProbeKind::from_name(probe_name)
            .filter(|k| k.is_media())
            .ok_or_else(|| SourceError::UnknownDescriptor(descriptor.to_string()))?;
        let file = File::open(path).map_err(|e| SourceError::FileOpen(format!("{path}: {e}")))?;
        let reader: Box<dyn symphonia::core::io::MediaSource> = if kind == ProbeKind::MpegTs {
            Box::new(mpegts::TsReader::new(file))
        } else {
            Box::new(file)
        };
        Ok(MediaInput {
            reader,
            extension: Some(kind.decoder_extension().to_string()),
            mime: None,
            is_stream: is_stream || kind == ProbeKind::MpegTs,
            segments: None,
        })
    }
}

impl super::Source for LocalSource {
    fn name(&self) -> &'static str {
        "local"
    }
    fn load(&self, req: &LoadRequest<'_>) -> Answer {
        self.load_file(req)
    }
    fn open(&self, track: &crate::track::TrackData) -> Result<MediaInput, SourceError> {
        let descriptor = super::descriptor_of(track)
            .ok_or_else(|| SourceError::UnknownDescriptor("local".into()))?;
        self.open_file(&track.info.identifier, &descriptor, track.info.is_stream)
    }
    fn can_decode(&self, track: &crate::track::TrackData) -> bool {
        super::descriptor_known(track)
    }
    fn probes(&self) -> bool {
        true
    }
}
