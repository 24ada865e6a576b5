//! InnerTube clients as data (sources.md §6.5, §6.15): every impersonated YouTube app is
//! a `ClientSpec` with built-in defaults for the September-2026 state, overridable field by
//! field from `[youtube.clients.<NAME>]` so a version bump needs no rebuild.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// Which response layout a client gets (search, playlist and mix paths differ, §6.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// WEB, WEBEMBEDDED: two-column layouts, `videoRenderer`.
    Web,
    /// MWEB: single column, `videoWithContextRenderer`.
    Mweb,
    /// Android, iOS, VR, TV, VisionOS: single column, `compactVideoRenderer`.
    App,
    /// WEB_REMIX: music search only.
    Music,
}

/// When a client needs a PO token (yt-dlp's policy, §6.5/§6.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoTokenPolicy {
    None,
    /// A streaming ("GVS") token is appended to media URLs as `pot=`.
    Streaming,
}

/// What a client may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Capabilities {
    pub video: bool,
    pub search: bool,
    pub playlist: bool,
    pub mix: bool,
    pub music_search: bool,
    pub playback: bool,
}

/// One InnerTube client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientSpec {
    /// The name used in config and in every error message (`WEB`, `VISIONOS`…).
    pub name: String,
    pub client_name: String,
    pub client_version: String,
    /// What `X-YouTube-Client-Name` carries.
    pub id: u32,
    /// Empty: the outbound client's default UA, and no `X-Goog-Visitor-Id` header.
    pub user_agent: String,
    /// Extra `context.client` fields (`androidSdkVersion`, `deviceMake`…).
    pub client_fields: Map<String, Value>,
    /// Extra root fields of every request (`attestationRequest`…).
    pub root_fields: Map<String, Value>,
    /// `context.user.lockedSafetyMode: false`.
    pub locked_safety_mode: bool,
    /// `params` on `/player`, sent exactly as written.
    pub player_params: String,
    /// Needs the player script (STS on `/player`, signature and `n` on media URLs).
    pub needs_player_script: bool,
    /// Fetches the embed page's `encryptedHostFlags` (WEBEMBEDDED, TVHTML5_SIMPLY).
    pub embedded: bool,
    /// Can send an OAuth access token (TV); never sends the embed fields.
    pub oauth: bool,
    pub po_token: PoTokenPolicy,
    pub family: Family,
    pub capabilities: Capabilities,
}

/// A partial override from `[youtube.clients.<NAME>]`; a name that is not built in must
/// give at least `client_name` and `client_version`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientOverride {
    pub client_name: Option<String>,
    pub client_version: Option<String>,
    pub id: Option<u32>,
    pub user_agent: Option<String>,
    pub client_fields: Option<Map<String, Value>>,
    pub root_fields: Option<Map<String, Value>>,
    pub locked_safety_mode: Option<bool>,
    pub player_params: Option<String>,
    pub needs_player_script: Option<bool>,
    pub embedded: Option<bool>,
    pub oauth: Option<bool>,
    pub po_token: Option<PoTokenPolicy>,
    pub family: Option<Family>,
    pub capabilities: Option<Capabilities>,
}

const MOBILE_PARAMS: &str = "CgIIAdgDAQ%3D%3D";
const WEB_PARAMS: &str = "2AMB";

fn caps(list: &str) -> Capabilities {
    let has = |w: &str| list.split(',').any(|x| x.trim() == w);
    Capabilities {
        video: has("video"),
        search: has("search"),
        playlist: has("playlist"),
        mix: has("mix"),
        music_search: has("music_search"),
        playback: has("playback"),
    }
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

#[allow(clippy::too_many_arguments)]
fn spec(
    name: &str,
    client_name: &str,
    client_version: &str,
    id: u32,
    user_agent: &str,
    client_fields: Value,
    player_params: &str,
    family: Family,
    capabilities: &str,
) -> ClientSpec {
    ClientSpec {
        name: name.into(),
        client_name: client_name.into(),
        client_version: client_version.into(),
        id,
        user_agent: user_agent.into(),
        client_fields: obj(client_fields),
        root_fields: Map::new(),
        locked_safety_mode: false,
        player_params: player_params.into(),
        needs_player_script: false,
        embedded: false,
        oauth: false,
        po_token: PoTokenPolicy::None,
        family,
        capabilities: caps(capabilities),
    }
}

/// The built-in clients, September 2026 (sources.md §6.5).
pub fn builtin() -> Vec<ClientSpec> {
    let all = "video,search,playlist,mix,playback";
    let vr_version = "1.71.26";
    let ios_version = "19.45.4";
    let android_version = "19.44.38";
    let music_android_version = "7.27.52";
    let mut v = vec![
        spec("MUSIC", "WEB_REMIX", "1.20240724.00.00", 67, "", json!({}), "", Family::Music, "music_search"),
        ClientSpec {
            locked_safety_mode: true,
            needs_player_script: true,
            po_token: PoTokenPolicy::Streaming,
            ..spec("WEB", "WEB", "2.20250403.01.00", 1, "", json!({}), WEB_PARAMS, Family::Web, all)
        },
        ClientSpec {
            needs_player_script: true,
            po_token: PoTokenPolicy::Streaming,
            ..spec("MWEB", "MWEB", "2.20240726.11.00", 2, "", json!({}), WEB_PARAMS, Family::Mweb, all)
        },
        ClientSpec {
            locked_safety_mode: true,
            needs_player_script: true,
            embedded: true,
            ..spec("WEBEMBEDDED", "WEB_EMBEDDED_PLAYER", "1.20250401.01.00", 56, "", json!({}), WEB_PARAMS, Family::Web, "video,playback")
        },
        ClientSpec {
            locked_safety_mode: true,
            po_token: PoTokenPolicy::Streaming,
            ..spec(
                "ANDROID", "ANDROID", android_version, 3,
                &format!("com.google.android.youtube/{android_version} (Linux; U; Android 11) gzip"),
                json!({"androidSdkVersion": 30}), "", Family::App, all,
            )
        },
        ClientSpec {
            po_token: PoTokenPolicy::Streaming,
            ..spec(
                "ANDROID_MUSIC", "ANDROID_MUSIC", music_android_version, 21,
                &format!("com.google.android.apps.youtube.music/{music_android_version} (Linux; U; Android 11) gzip"),
                json!({"androidSdkVersion": 30}), MOBILE_PARAMS, Family::App, "video,search,mix,playback",
            )
        },
        spec(
            "ANDROID_VR", "ANDROID_VR", vr_version, 28,
            &format!("com.google.android.apps.youtube.vr.oculus/{vr_version} (Linux; U; Android 12L; eureka-user Build/SQ3A.220605.009.A1) gzip"),
            json!({"androidSdkVersion": 32, "deviceMake": "Oculus", "deviceModel": "Quest 3", "osName": "Android", "osVersion": "12L"}),
            "", Family::App, all,
        ),
        ClientSpec {
            locked_safety_mode: true,
            po_token: PoTokenPolicy::Streaming,
            ..spec(
                "IOS", "IOS", ios_version, 5,
                &format!("com.google.ios.youtube/{ios_version} (iPhone16,2; U; CPU iOS 18_1_0 like Mac OS X;)"),
                json!({"deviceMake": "Apple", "deviceModel": "iPhone16,2", "osName": "iPhone", "osVersion": "18.1.0.22B83"}),
                MOBILE_PARAMS, Family::App, all,
            )
        },
        ClientSpec {
            needs_player_script: true,
            oauth: true,
            ..spec("TV", "TVHTML5", "7.20250319.10.00", 7, "Mozilla/5.0 (ChromiumStylePlatform) Cobalt/Version", json!({}), WEB_PARAMS, Family::App, "playback")
        },
        ClientSpec {
            needs_player_script: true,
            embedded: true,
            po_token: PoTokenPolicy::Streaming,
            root_fields: obj(json!({"attestationRequest": {"omitBotguardData": true}})),
            ..spec("TVHTML5_SIMPLY", "TVHTML5_SIMPLY", "1.0", 75, "", json!({}), WEB_PARAMS, Family::App, "video,search,mix,playback")
        },
        spec(
            "VISIONOS", "VISIONOS", "1.04", 101,
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 15_7_3) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.0 Safari/605.1.15",
            json!({"deviceMake": "Apple", "deviceModel": "RealityDevice17,1", "osName": "visionOS", "osVersion": "26.5.23O471"}),
            "", Family::App, "video,playback",
        ),
    ];
    for c in &mut v {
        c.name = c.name.to_ascii_uppercase();
    }
    v
}

/// The built-in clients with `[youtube.clients]` applied (new names appended).
pub fn resolve(overrides: &BTreeMap<String, ClientOverride>) -> Result<Vec<ClientSpec>, String> {
    let mut all = builtin();
    for (name, o) in overrides {
        let key = name.to_ascii_uppercase();
        let idx = match all.iter().position(|c| c.name == key) {
            Some(i) => i,
            None => {
                let (Some(cn), Some(cv)) = (&o.client_name, &o.client_version) else {
                    return Err(format!(
                        "youtube.clients.{name}: a new client needs client_name and client_version"
                    ));
                };
                all.push(spec(
                    &key,
                    cn,
                    cv,
                    0,
                    "",
                    json!({}),
                    "",
                    Family::Web,
                    "video,search,playlist,mix,playback",
                ));
                all.len() - 1
            }
        };
        apply(&mut all[idx], o);
    }
    Ok(all)
}

fn apply(c: &mut ClientSpec, o: &ClientOverride) {
    macro_rules! set {
        ($($f:ident),*) => { $( if let Some(v) = &o.$f { c.$f = v.clone(); } )* };
    }
    set!(
        client_name,
        client_version,
        id,
        user_agent,
        client_fields,
        root_fields,
        locked_safety_mode,
        player_params,
        needs_player_script,
        embedded,
        oauth,
        po_token,
        family,
        capabilities
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_match_the_september_2026_table() {
        let all = builtin();
        let get = |n: &str| all.iter().find(|c| c.name == n).unwrap().clone();
        let vision = get("VISIONOS");
        assert_eq!(vision.id, 101);
        assert!(!vision.needs_player_script);
        assert_eq!(vision.po_token, PoTokenPolicy::None);
        assert!(vision.capabilities.playback && !vision.capabilities.search);
        let web = get("WEB");
        assert!(web.needs_player_script && web.locked_safety_mode);
        assert_eq!(web.player_params, "2AMB");
        assert!(get("MUSIC").capabilities.music_search);
        assert!(!get("TV").capabilities.video && get("TV").oauth);
        assert_eq!(get("IOS").player_params, "CgIIAdgDAQ%3D%3D");
        assert!(get("TVHTML5_SIMPLY")
            .root_fields
            .contains_key("attestationRequest"));
        assert!(!get("TVHTML5_SIMPLY").capabilities.playlist);
    }

    #[test]
    fn overrides_change_fields_and_add_clients() {
        let mut o = BTreeMap::new();
        o.insert(
            "visionos".to_string(),
            ClientOverride {
                client_version: Some("9.99".into()),
                ..Default::default()
            },
        );
        o.insert(
            "NEWONE".to_string(),
            ClientOverride {
                client_name: Some("NEW".into()),
                client_version: Some("1.0".into()),
                id: Some(99),
                ..Default::default()
            },
        );
        let all = resolve(&o).unwrap();
        let v = all.iter().find(|c| c.name == "VISIONOS").unwrap();
        assert_eq!(v.client_version, "9.99");
        assert_eq!(v.id, 101);
        let n = all.iter().find(|c| c.name == "NEWONE").unwrap();
        assert_eq!((n.client_name.as_str(), n.id), ("NEW", 99));
        let mut bad = BTreeMap::new();
        bad.insert("X".to_string(), ClientOverride::default());
        assert!(resolve(&bad).unwrap_err().contains("youtube.clients.X"));
    }
}
