//! Encoded-track vectors from real Lavalink servers and clients (tests/data, copied from
//! the shared data set): every one decodes to its published info, v3 blobs re-encode to
//! the same string, v2 blobs re-encode as the v3 Lavalink would write, and the
//! negative vectors fail with Java's messages.

use basalt::track::codec::{decode_message, encode_message, MISSING_SOURCE_MESSAGE};
use basalt::track::mutf8;
use basalt::track::{
    decode_track, encode_track, probe_info, utf_source_data, TrackData, TrackError,
};
use base64::Engine as _;
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

fn opt(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

/// Checks every field Lavalink shows in `TrackInfo` against the decoded blob.
fn assert_info(t: &TrackData, info: &Value) {
    let i = &t.info;
    assert_eq!(i.identifier, info["identifier"].as_str().unwrap());
    assert_eq!(!i.is_stream, info["isSeekable"].as_bool().unwrap());
    assert_eq!(i.author, info["author"].as_str().unwrap());
    assert_eq!(i.length, info["length"].as_i64().unwrap());
    assert_eq!(i.is_stream, info["isStream"].as_bool().unwrap());
    assert_eq!(t.position, info["position"].as_i64().unwrap());
    assert_eq!(i.title, info["title"].as_str().unwrap());
    assert_eq!(i.uri, opt(&info["uri"]));
    assert_eq!(i.source_name, info["sourceName"].as_str().unwrap());
    assert_eq!(i.artwork_url, opt(&info["artworkUrl"]));
    assert_eq!(i.isrc, opt(&info["isrc"]));
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn every_vector_decodes_to_its_info() {
    let vectors = load("tracks.json");
    for v in vectors.as_array().unwrap() {
        let enc = v["encoded"].as_str().unwrap();
        let d = decode_track(enc).unwrap_or_else(|e| panic!("{enc}: {e}"));
        assert_info(&d.data, &v["info"]);
        assert_eq!(d.version as i64, v["version"].as_i64().unwrap(), "{enc}");
        let raw = b64(enc);
        let header = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]);
        assert_eq!((header >> 30) as i64, v["messageFlags"].as_i64().unwrap());
        assert_eq!(
            (header & 0x3FFF_FFFF) as i64,
            v["messageSize"].as_i64().unwrap()
        );
        assert_eq!(
            hex(&d.data.source_data),
            v["sourceSpecificBytesHex"].as_str().unwrap()
        );
        let probe = v["expectedPluginInfo"]["probeInfo"]
            .as_str()
            .map(str::to_owned);
        assert_eq!(probe_info(&d.data), probe, "{enc}");
    }
}

#[test]
fn v3_vectors_re_encode_identically() {
    let vectors = load("tracks.json");
    let mut n = 0;
    for v in vectors
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["version"] == 3)
    {
        let enc = v["encoded"].as_str().unwrap();
        assert_eq!(encode_track(&decode_track(enc).unwrap().data), enc);
        n += 1;
    }
    assert!(n >= 3);
}

/// Lavalink re-encodes what it decodes with the current (v3) writer: version byte 3 and
/// two absent-flag bytes (artworkUrl, isrc) inserted after the uri; all else equal.
#[test]
fn v2_vectors_re_encode_as_v3() {
    let vectors = load("tracks.json");
    let mut n = 0;
    for v in vectors
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["version"] == 2)
    {
        let enc = v["encoded"].as_str().unwrap();
        let d = decode_track(enc).unwrap();
        let re = encode_track(&d.data);
        let again = decode_track(&re).unwrap();
        assert_eq!(again.version, 3);
        assert_eq!(again.data, d.data);

        let o = b64(enc);
        let r = b64(&re);
        assert_eq!(r.len(), o.len() + 2);
        let size = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        assert_eq!(size(&r), size(&o) + 2);
        assert_eq!((o[4], r[4]), (2, 3));
        let i = &d.data.info;
        let k = 5
            + 2
            + mutf8::encoded_len(&i.title)
            + 2
            + mutf8::encoded_len(&i.author)
            + 8
            + 2
            + mutf8::encoded_len(&i.identifier)
            + 1
            + i.uri.as_ref().map_or(1, |u| 3 + mutf8::encoded_len(u));
        assert_eq!(r[5..k], o[5..k]);
        assert_eq!(r[k..k + 2], [0, 0]);
        assert_eq!(r[k + 2..], o[k..]);
        n += 1;
    }
    assert!(n >= 2);
}

/// The spec's worked example 2 is the v3 form of the v2 HTTP vector.
#[test]
fn http_v2_becomes_the_spec_v3_string() {
    let v2 = "QAAAiwIAC0RlYXRoIG9mIE1lAApTQUlOVCBQSE5YAAAAAAAAdVgAKGh0dHBzOi8vd3d3Lm1ib3hkcml2ZS5jb20vc3RhcnRtdXNpYy5tcDMAAQAoaHR0cHM6Ly93d3cubWJveGRyaXZlLmNvbS9zdGFydG11c2ljLm1wMwAEaHR0cAADbXAzAAAAAAAAAAA=";
    let v3 = "QAAAjQMAC0RlYXRoIG9mIE1lAApTQUlOVCBQSE5YAAAAAAAAdVgAKGh0dHBzOi8vd3d3Lm1ib3hkcml2ZS5jb20vc3RhcnRtdXNpYy5tcDMAAQAoaHR0cHM6Ly93d3cubWJveGRyaXZlLmNvbS9zdGFydG11c2ljLm1wMwAAAARodHRwAANtcDMAAAAAAAAAAA==";
    assert_eq!(encode_track(&decode_track(v2).unwrap().data), v3);
    let d = decode_track(v3).unwrap();
    assert_eq!(probe_info(&d.data).as_deref(), Some("mp3"));
    assert_eq!(d.data.source_data, utf_source_data("mp3"));
}

/// Event payloads carry the same blob re-encoded with the current position.
#[test]
fn re_encoding_with_a_position_matches_event_payloads() {
    let ex = load("examples.json");
    let start = ex["trackStartEvent"]["payload"]["track"].clone();
    let base = decode_track(start["encoded"].as_str().unwrap())
        .unwrap()
        .data;
    assert_info(&base, &start["info"]);
    for key in [
        "trackEndEvent",
        "trackStuckEvent",
        "trackExceptionEvent",
        "loadResultTrack",
    ] {
        let track = if key == "loadResultTrack" {
            &ex[key]["payload"]["data"]
        } else {
            &ex[key]["payload"]["track"]
        };
        let mut t = base.clone();
        t.position = track["info"]["position"].as_i64().unwrap();
        assert_eq!(
            encode_track(&t),
            track["encoded"].as_str().unwrap(),
            "{key}"
        );
        assert_info(
            &decode_track(track["encoded"].as_str().unwrap())
                .unwrap()
                .data,
            &track["info"],
        );
    }
    let http = &ex["loadResultTrackHttp"]["payload"]["data"];
    let d = decode_track(http["encoded"].as_str().unwrap()).unwrap();
    assert_info(&d.data, &http["info"]);
    assert_eq!(
        probe_info(&d.data).as_deref(),
        http["pluginInfo"]["probeInfo"].as_str()
    );
    let dec = &ex["decodeTrackResponse"]["payload"];
    assert_info(
        &decode_track(dec["encoded"].as_str().unwrap()).unwrap().data,
        &dec["info"],
    );
}

/// Spec §8.8: the correct (modified UTF-8) form of the first negative vector.
#[test]
fn surrogate_pair_title_round_trips() {
    let ex = load("examples.json");
    let bad = ex["invalidEncodedTracks"]["items"][0]["encoded"]
        .as_str()
        .unwrap();
    let mut b = b64(bad);
    let at = b
        .windows(4)
        .position(|w| w == [0xF0, 0x9F, 0x8C, 0xBF])
        .unwrap();
    b.splice(at..at + 4, [0xED, 0xA0, 0xBC, 0xED, 0xBC, 0xBF]);
    b[3] += 2; // payload size 0xd8 → 0xda
    b[6] += 2; // title length 0x35 → 0x37
    let good = base64::engine::general_purpose::STANDARD.encode(&b);
    assert!(good.starts_with("QAAA2gMAN0NvenkgYW5pbWFs"));
    let d = decode_track(&good).unwrap();
    assert_eq!(
        d.data.info.title,
        "Cozy animal crossing music that cure my headaches🌿"
    );
    assert_eq!(d.data.info.title.encode_utf16().count(), 51);
    assert_eq!(encode_track(&d.data), good);
}

#[test]
fn invalid_vectors_fail_like_java() {
    let ex = load("examples.json");
    let items = ex["invalidEncodedTracks"]["items"].as_array().unwrap();
    let errs: Vec<TrackError> = items
        .iter()
        .map(|v| decode_track(v["encoded"].as_str().unwrap()).unwrap_err())
        .collect();
    // 4-byte UTF-8 in the title: Java's readUTF rejects lead byte F0 at index 49.
    assert!(
        matches!(errs[0], TrackError::BadUtf { field: "title", .. }),
        "{:?}",
        errs[0]
    );
    assert_eq!(errs[0].to_string(), "malformed input around byte 49");
    // Truncated: the message stops after the uri; reading sourceName hits the end.
    assert_eq!(errs[1], TrackError::Eof("sourceName"));
    assert_eq!(
        errs[1].to_string(),
        "Unexpected end of track data while reading sourceName"
    );
    // '+' turned into ' ' by an unescaped query string.
    assert_eq!(errs[2].to_string(), "Illegal base64 character 20");
}

/// These are well-formed blobs; Lavalink fails them only because no source manager
/// claims them (probe "heck", source "<no source provided>"). The codec decodes the
/// common fields; the source lookup answers with MISSING_SOURCE_MESSAGE.
#[test]
fn format_edge_cases_decode_their_common_fields() {
    let ex = load("examples.json");
    for v in ex["formatEdgeCases"]["items"].as_array().unwrap() {
        let d = decode_track(v["encoded"].as_str().unwrap()).unwrap();
        assert_info(&d.data, &v["decodedInfo"]);
        assert_eq!(
            hex(&d.data.source_data),
            v["sourceSpecificBytesHex"].as_str().unwrap()
        );
        let re = encode_message(&d.data);
        assert_eq!(decode_message(&re).unwrap().data, d.data);
    }
    let heck = ex["formatEdgeCases"]["items"][0]["encoded"]
        .as_str()
        .unwrap();
    assert_eq!(
        probe_info(&decode_track(heck).unwrap().data).as_deref(),
        Some("heck|man")
    );
    assert_eq!(
        MISSING_SOURCE_MESSAGE,
        "Failed to decode track due to a mismatching version or missing source manager"
    );
}

#[test]
fn base64_leniency_matches_java() {
    let rick = "QAAAjQIAJVJpY2sgQXN0bGV5IC0gTmV2ZXIgR29ubmEgR2l2ZSBZb3UgVXAADlJpY2tBc3RsZXlWRVZPAAAAAAADPCAAC2RRdzR3OVdnWGNRAAEAK2h0dHBzOi8vd3d3LnlvdXR1YmUuY29tL3dhdGNoP3Y9ZFF3NHc5V2dYY1EAB3lvdXR1YmUAAAAAAAAAAA==";
    let good = decode_track(rick).unwrap();
    // Missing padding is accepted.
    assert_eq!(decode_track(rick.trim_end_matches('=')).unwrap(), good);
    // One '=' where two are needed is wrong padding.
    let e = decode_track(&rick[..rick.len() - 1]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Input byte array has wrong 4-byte ending unit"
    );
    // Whitespace and line breaks are rejected (after the padding Java reports the
    // position of the stray byte).
    let e = decode_track(&format!("{rick}\n")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Input byte array has incorrect ending byte at 196"
    );
    let e = decode_track(&format!("{}\n{}", &rick[..8], &rick[8..])).unwrap_err();
    assert_eq!(e.to_string(), "Illegal base64 character a");
    let e = decode_track(&format!(" {rick}")).unwrap_err();
    assert_eq!(e.to_string(), "Illegal base64 character 20");
    // The URL-safe alphabet is rejected.
    for (c, hex) in [('-', "2d"), ('_', "5f")] {
        let url_safe = format!("{}{c}{}", &rick[..8], &rick[9..]);
        let e = decode_track(&url_safe).unwrap_err();
        assert_eq!(e.to_string(), format!("Illegal base64 character {hex}"));
    }
    // Output always uses the standard alphabet with padding.
    let out = encode_track(&good.data);
    assert!(out.len().is_multiple_of(4));
}

#[test]
fn header_edge_cases() {
    let e = decode_track("QAAAAA==").unwrap_err();
    assert_eq!(e, TrackError::NoMessage);
    assert_eq!(e.to_string(), MISSING_SOURCE_MESSAGE);
    assert!(matches!(
        decode_track("QAA=").unwrap_err(),
        TrackError::Eof(_)
    ));
    // Size larger than the data.
    assert!(matches!(
        decode_message(&[0x7F, 0xFF, 0xFF, 0xFF, 3]).unwrap_err(),
        TrackError::Truncated {
            expected: 0x3FFF_FFFF,
            available: 1
        }
    ));
    // Every prefix of every vector fails cleanly (no panic).
    for v in load("tracks.json").as_array().unwrap() {
        let raw = b64(v["encoded"].as_str().unwrap());
        for n in 0..raw.len() {
            assert!(decode_message(&raw[..n]).is_err());
        }
    }
}
