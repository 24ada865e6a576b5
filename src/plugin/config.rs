//! `[plugins.<name>]`: each plugin's section, mirroring its Lavalink `application.yml`
//! subtree `plugins.<name>` with camelCase/kebab-case keys written in snake_case
//! (`plugins.lavasrc.spotify.clientId` → `[plugins.lavasrc.spotify] client_id`).
//!
//! The core loader hands the raw `plugins` table here: keys and types are checked against
//! the defaults below (so a typo is refused with its full key and the file), then the
//! plugins' own rules (credentials in pairs, providers non-empty).

use serde::{Deserialize, Serialize};

use crate::config::ConfigError;

#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PluginsConfig {
    /// Directory of run-time WASM filter modules (`.wasm` / `.wat`); "" = none.
    pub wasm_dir: String,
    pub lavasrc: LavaSrcConfig,
    pub lavasearch: Toggle,
    pub lavalyrics: LavaLyricsConfig,
    pub sponsorblock: Toggle,
}

/// A plugin with nothing to configure but whether it is on.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Toggle {
    pub enabled: bool,
}

impl Default for Toggle {
    fn default() -> Self {
        Toggle { enabled: true }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LavaLyricsConfig {
    pub enabled: bool,
    /// Provider order by name (`lrclib`, `spotify`, `deezer`…); unlisted ones follow.
    pub sources: Vec<String>,
}

impl Default for LavaLyricsConfig {
    fn default() -> Self {
        LavaLyricsConfig {
            enabled: true,
            sources: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LavaSrcConfig {
    /// Mirror providers, tried in order (`%ISRC%`, `%QUERY%` substituted).
    pub providers: Vec<String>,
    pub sources: LavaSrcSources,
    pub lyrics_sources: LavaSrcLyricsSources,
    pub spotify: SpotifyConfig,
    pub applemusic: AppleMusicConfig,
    pub deezer: DeezerConfig,
}

impl Default for LavaSrcConfig {
    fn default() -> Self {
        LavaSrcConfig {
            providers: vec!["ytsearch:\"%ISRC%\"".into(), "ytsearch:%QUERY%".into()],
            sources: LavaSrcSources::default(),
            lyrics_sources: LavaSrcLyricsSources::default(),
            spotify: SpotifyConfig::default(),
            applemusic: AppleMusicConfig::default(),
            deezer: DeezerConfig::default(),
        }
    }
}

impl LavaSrcConfig {
    /// LavaSrc is listed while any of its sources or lyrics sources is on.
    pub fn any_enabled(&self) -> bool {
        let s = &self.sources;
        let l = &self.lyrics_sources;
        s.spotify || s.applemusic || s.deezer || l.lrc_lib || l.deezer || l.spotify || l.youtube
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LavaSrcSources {
    pub spotify: bool,
    pub applemusic: bool,
    pub deezer: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LavaSrcLyricsSources {
    pub spotify: bool,
    pub deezer: bool,
    /// YouTube Music's lyrics tab (used only while the YouTube source is on).
    pub youtube: bool,
    pub lrc_lib: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SpotifyConfig {
    pub client_id: String,
    pub client_secret: String,
    pub sp_dc: String,
    pub country_code: String,
    /// Pages of 100 tracks.
    pub playlist_load_limit: u32,
    /// Pages of 50 tracks.
    pub album_load_limit: u32,
    pub resolve_artists_in_search: bool,
    pub local_files: bool,
    /// A service answering `{accessToken, accessTokenExpirationTimestampMs}` (anonymous
    /// tokens); used when no client id/secret pair is set.
    pub custom_token_endpoint: String,
}

impl Default for SpotifyConfig {
    fn default() -> Self {
        SpotifyConfig {
            client_id: String::new(),
            client_secret: String::new(),
            sp_dc: String::new(),
            country_code: "US".into(),
            playlist_load_limit: 6,
            album_load_limit: 6,
            resolve_artists_in_search: true,
            local_files: false,
            custom_token_endpoint: String::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AppleMusicConfig {
    pub country_code: String,
    pub media_api_token: String,
    pub key_id: String,
    pub team_id: String,
    pub music_kit_key: String,
    pub playlist_load_limit: u32,
    pub album_load_limit: u32,
}

impl Default for AppleMusicConfig {
    fn default() -> Self {
        AppleMusicConfig {
            country_code: "us".into(),
            media_api_token: String::new(),
            key_id: String::new(),
            team_id: String::new(),
            music_kit_key: String::new(),
            playlist_load_limit: 6,
            album_load_limit: 6,
        }
    }
}

/// Deezer's stream formats (LavaSrc's names), best first.
pub const DEEZER_FORMATS: [&str; 6] = ["FLAC", "MP3_320", "MP3_256", "MP3_128", "MP3_64", "AAC_64"];

#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DeezerConfig {
    /// With `arl`: full-stream playback (metadata and previews need neither).
    pub master_decryption_key: String,
    /// A logged-in Deezer cookie: lyrics and full streams.
    pub arl: String,
    /// Formats asked for full streams, best first (default MP3_128, MP3_64).
    pub formats: Vec<String>,
}

/// Checks the raw `[plugins]` table from `file` and builds the typed config.
pub fn from_toml(value: Option<toml::Value>, file: &str) -> Result<PluginsConfig, ConfigError> {
    let Some(value) = value else {
        return Ok(PluginsConfig::default());
    };
    let schema =
        toml::Value::try_from(PluginsConfig::default()).map_err(|e| ConfigError::Other {
            file: file.into(),
            message: e.to_string(),
        })?;
    let mut value = value;
    check(&mut value, &schema, "plugins", file)?;
    let config: PluginsConfig =
        value
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Other {
                file: file.into(),
                message: e.message().split_whitespace().collect::<Vec<_>>().join(" "),
            })?;
    validate(&config, file)?;
    Ok(config)
}

fn show(v: &toml::Value) -> String {
    match v {
        toml::Value::Table(_) => "{…}".to_string(),
        other => other.to_string(),
    }
}

fn kind(v: &toml::Value) -> &'static str {
    match v {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "a non-negative integer",
        toml::Value::Float(_) => "a number",
        toml::Value::Boolean(_) => "a boolean (true/false)",
        toml::Value::Datetime(_) => "a date",
        toml::Value::Array(_) => "a list of strings",
        toml::Value::Table(_) => "a table",
    }
}

/// Every key known and of the default's type, recursively.
fn check(
    val: &mut toml::Value,
    default: &toml::Value,
    key: &str,
    file: &str,
) -> Result<(), ConfigError> {
    use toml::Value;
    let wrong = |val: &Value| ConfigError::WrongType {
        origin: file.into(),
        key: key.into(),
        value: show(val),
        expected: kind(default),
    };
    match (default, &mut *val) {
        (Value::Table(d), Value::Table(t)) => {
            for (k, v) in t.iter_mut() {
                let full = format!("{key}.{k}");
                let Some(dv) = d.get(k) else {
                    return Err(ConfigError::UnknownKey {
                        origin: file.into(),
                        key: full,
                        value: show(v),
                    });
                };
                check(v, dv, &full, file)?;
            }
            Ok(())
        }
        (Value::Array(_), Value::Array(items)) if items.iter().all(Value::is_str) => Ok(()),
        (Value::Integer(_), Value::Integer(i)) if *i >= 0 && *i <= u32::MAX as i64 => Ok(()),
        (Value::String(_), Value::String(_)) | (Value::Boolean(_), Value::Boolean(_)) => Ok(()),
        _ => Err(wrong(val)),
    }
}

/// The plugins' own rules, each refusal naming the key.
fn validate(c: &PluginsConfig, file: &str) -> Result<(), ConfigError> {
    let invalid = |key: &str, value: String, reason: &str| ConfigError::Invalid {
        origin: file.into(),
        key: key.into(),
        value,
        reason: reason.into(),
    };
    let src = &c.lavasrc;
    for p in &src.providers {
        if p.trim().is_empty() {
            return Err(invalid(
                "plugins.lavasrc.providers",
                format!("{:?}", src.providers),
                "a provider must not be empty",
            ));
        }
    }
    let sp = &src.spotify;
    if sp.client_id.is_empty() != sp.client_secret.is_empty() {
        let (key, value) = if sp.client_id.is_empty() {
            ("plugins.lavasrc.spotify.client_id", "\"\"".to_string())
        } else {
            ("plugins.lavasrc.spotify.client_secret", "\"\"".to_string())
        };
        return Err(invalid(
            key,
            value,
            "client_id and client_secret must be set together",
        ));
    }
    // Spotify lyrics need the sp_dc cookie (the account's web-player token) and Deezer
    // lyrics a logged-in arl: refused at start-up rather than silently finding nothing.
    // (No client id/secret is fine: the anonymous web-player token is used.)
    if src.lyrics_sources.spotify && sp.sp_dc.trim().is_empty() {
        return Err(invalid(
            "plugins.lavasrc.lyrics_sources.spotify",
            "true".into(),
            "needs plugins.lavasrc.spotify.sp_dc",
        ));
    }
    if src.lyrics_sources.deezer && src.deezer.arl.trim().is_empty() {
        return Err(invalid(
            "plugins.lavasrc.lyrics_sources.deezer",
            "true".into(),
            "needs plugins.lavasrc.deezer.arl",
        ));
    }
    // Full Deezer streams need both the arl and the master key.
    let dz = &src.deezer;
    if !dz.master_decryption_key.is_empty() && dz.arl.is_empty() {
        return Err(invalid(
            "plugins.lavasrc.deezer.arl",
            "\"\"".into(),
            "master_decryption_key needs an arl (a logged-in Deezer cookie)",
        ));
    }
    if !dz.master_decryption_key.is_empty() && dz.master_decryption_key.len() != 16 {
        return Err(invalid(
            "plugins.lavasrc.deezer.master_decryption_key",
            "(hidden)".into(),
            "expected 16 characters",
        ));
    }
    for f in &dz.formats {
        if !DEEZER_FORMATS.contains(&f.as_str()) {
            return Err(invalid(
                "plugins.lavasrc.deezer.formats",
                format!("{:?}", dz.formats),
                "each format must be one of FLAC, MP3_320, MP3_256, MP3_128, MP3_64, AAC_64",
            ));
        }
    }
    if !sp.custom_token_endpoint.is_empty() && !sp.custom_token_endpoint.starts_with("http") {
        return Err(invalid(
            "plugins.lavasrc.spotify.custom_token_endpoint",
            format!("{:?}", sp.custom_token_endpoint),
            "expected an http(s) URL",
        ));
    }
    if sp.country_code.len() != 2 {
        return Err(invalid(
            "plugins.lavasrc.spotify.country_code",
            format!("{:?}", sp.country_code),
            "expected a two-letter country code",
        ));
    }
    for (i, name) in c.lavalyrics.sources.iter().enumerate() {
        if name.trim().is_empty() {
            return Err(invalid(
                "plugins.lavalyrics.sources",
                format!("{:?}", c.lavalyrics.sources),
                &format!("entry {i} is empty"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PluginsConfig, ConfigError> {
        let mut t: toml::Table = toml::from_str(text).unwrap();
        from_toml(t.remove("plugins"), "test.toml")
    }

    #[test]
    fn defaults_and_snake_case_keys() {
        let c = parse(
            "[plugins.lavasrc.sources]\ndeezer = true\n\
             [plugins.lavasrc.lyrics_sources]\nlrc_lib = true\n\
             [plugins.lavasrc.spotify]\nclient_id = \"a\"\nclient_secret = \"b\"\n\
             [plugins.lavalyrics]\nsources = [\"lrclib\"]\n[plugins.sponsorblock]\nenabled = false\n",
        )
        .unwrap();
        assert!(c.lavasrc.sources.deezer && c.lavasrc.lyrics_sources.lrc_lib);
        assert_eq!(c.lavasrc.spotify.client_id, "a");
        assert_eq!(c.lavasrc.providers.len(), 2);
        assert!(c.lavasearch.enabled && !c.sponsorblock.enabled);
        assert_eq!(c.lavalyrics.sources, vec!["lrclib".to_string()]);
    }

    #[test]
    fn refusals_name_key_and_file() {
        let e = parse("[plugins.lavasrc.spotify]\nclientId = \"x\"\n").unwrap_err();
        let s = e.to_string();
        assert!(
            s.contains("test.toml") && s.contains("plugins.lavasrc.spotify.clientId"),
            "{s}"
        );
        let e = parse("[plugins.lavasrc.spotify]\nplaylist_load_limit = \"x\"\n").unwrap_err();
        assert!(e
            .to_string()
            .contains("plugins.lavasrc.spotify.playlist_load_limit"));
        // No client credentials: the anonymous web-player token; no token: scraped.
        parse("[plugins.lavasrc.sources]\nspotify = true\napplemusic = true\n").unwrap();
        let e = parse("[plugins.lavasrc.spotify]\nclient_id = \"x\"\n").unwrap_err();
        assert!(e.to_string().contains("client_secret"), "{e}");
        let e = parse("[plugins.lavasrc.lyrics_sources]\ndeezer = true\n").unwrap_err();
        assert!(e.to_string().contains("lyrics_sources.deezer"), "{e}");
        assert!(e.to_string().contains("arl"), "{e}");
        let e = parse("[plugins.lavasrc.lyrics_sources]\nspotify = true\n").unwrap_err();
        assert!(e.to_string().contains("sp_dc"), "{e}");
        let e = parse("[plugins.lavasrc.deezer]\nmaster_decryption_key = \"0123456789abcdef\"\n")
            .unwrap_err();
        assert!(e.to_string().contains("deezer.arl"), "{e}");
        let e = parse("[plugins.lavasrc.deezer]\nformats = [\"MP3_999\"]\n").unwrap_err();
        assert!(e.to_string().contains("deezer.formats"), "{e}");
        let e = parse("[plugins.nope]\nenabled = true\n").unwrap_err();
        assert!(e.to_string().contains("plugins.nope"), "{e}");
    }
}
