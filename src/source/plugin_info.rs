//! `pluginInfo` a core source attaches to the tracks it loads (e.g. SoundCloud's
//! `{"isPreview": true}` for Go+ previews, sources.md §1.9). Core sources write no extra
//! bytes into their blobs (Lavalink's layout, §0.4), so, as LavaSrc's playlist info does,
//! the JSON writer looks the track up in a small bounded table of recent loads by source
//! and identifier. A track decoded from a blob this node never loaded has none, as on a
//! Java node.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde_json::{Map, Value};

use crate::track::TrackData;

/// Tracks remembered; older entries are forgotten first.
const MAX_TRACKS: usize = 1024;

type Key = (String, String);

static RECENT: Mutex<VecDeque<(Key, Map<String, Value>)>> = Mutex::new(VecDeque::new());

fn key(track: &TrackData) -> Key {
    (
        track.info.source_name.clone(),
        track.info.identifier.clone(),
    )
}

/// Attaches `info` to every JSON rendering of `track` (replacing what was attached before).
pub fn attach(track: &TrackData, info: Map<String, Value>) {
    let k = key(track);
    let mut recent = crate::sync::lock(&RECENT);
    recent.retain(|(r, _)| *r != k);
    if recent.len() >= MAX_TRACKS {
        recent.pop_front();
    }
    recent.push_back((k, info));
}

/// Merges what a source attached to `track` into `out`.
pub fn extend(track: &TrackData, out: &mut Map<String, Value>) {
    let recent = crate::sync::lock(&RECENT);
    let (source, identifier) = (&track.info.source_name, &track.info.identifier);
    if let Some((_, info)) = recent
        .iter()
        .rev()
        .find(|((s, i), _)| s == source && i == identifier)
    {
        out.extend(info.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::track::TrackInfo;

    fn track(id: &str) -> TrackData {
        TrackData {
            info: TrackInfo {
                title: "t".into(),
                author: "a".into(),
                length: 1,
                identifier: id.into(),
                is_stream: false,
                uri: None,
                artwork_url: None,
                isrc: None,
                source_name: "plugin-info-test".into(),
            },
            source_data: Vec::new(),
            position: 0,
        }
    }

    #[test]
    fn attached_info_is_found_by_source_and_identifier_and_bounded() {
        let mut info = Map::new();
        info.insert("isPreview".into(), true.into());
        attach(&track("a"), info);
        let mut out = Map::new();
        extend(&track("a"), &mut out);
        assert_eq!(out.get("isPreview"), Some(&Value::Bool(true)));
        let mut none = Map::new();
        extend(&track("b"), &mut none);
        assert!(none.is_empty());
        for i in 0..MAX_TRACKS + 10 {
            attach(&track(&format!("x{i}")), Map::new());
        }
        assert!(crate::sync::lock(&RECENT).len() <= MAX_TRACKS);
        let mut gone = Map::new();
        extend(&track("a"), &mut gone);
        assert!(gone.is_empty());
    }
}
