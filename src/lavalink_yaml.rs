//! Lavalink's `application.yml`, read as is: each key Basalt supports becomes its
//! `config.toml` key, `plugins.<name>.*` becomes `[plugins.<name>]` with keys in
//! snake_case, and every other key is named once in a warning as ignored.
//!
//! The result is TOML text that goes through the normal loader, so types, ranges,
//! environment overrides and error messages are exactly those of `config.toml`.
//! Key matching follows Spring's relaxed binding (`bufferDurationMs`,
//! `buffer-duration-ms` and `buffer_duration_ms` are one key; dotted keys such as
//! `lavalink.server: …` nest), as Lavalink itself reads the file.

use toml::Value;
use yaml_rust2::{Yaml, YamlLoader};

use crate::config::ConfigError;

/// The Basalt configuration equivalent to a Lavalink `application.yml`.
#[derive(Debug, Clone, PartialEq)]
pub struct Translated {
    /// `config.toml` text for the supported keys.
    pub toml: String,
    /// Lavalink keys (as written in the file, dotted) with no Basalt equivalent.
    pub ignored: Vec<String>,
}

/// Whether `path` names a YAML file (`.yml` / `.yaml`).
pub fn is_yaml(path: &std::path::Path) -> bool {
    matches!(
        path.extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("yml" | "yaml")
    )
}

/// Exact keys: the Lavalink key (normalised, see `norm`) and the Basalt key.
const KEYS: &[(&str, &str)] = &[
    ("server.port", "server.port"),
    ("server.address", "server.address"),
    ("lavalink.server.password", "server.password"),
    (
        "lavalink.server.bufferdurationms",
        "player.buffer_duration_ms",
    ),
    (
        "lavalink.server.framebufferdurationms",
        "player.frame_buffer_duration_ms",
    ),
    (
        "lavalink.server.opusencodingquality",
        "player.opus_encoding_quality",
    ),
    (
        "lavalink.server.resamplingquality",
        "player.resampling_quality",
    ),
    (
        "lavalink.server.trackstuckthresholdms",
        "player.track_stuck_threshold_ms",
    ),
    (
        "lavalink.server.useseekghosting",
        "player.use_seek_ghosting",
    ),
    (
        "lavalink.server.youtubeplaylistloadlimit",
        "player.youtube_playlist_load_limit",
    ),
    (
        "lavalink.server.playerupdateinterval",
        "player.player_update_interval_s",
    ),
    (
        "lavalink.server.youtubesearchenabled",
        "player.youtube_search_enabled",
    ),
    (
        "lavalink.server.soundcloudsearchenabled",
        "player.soundcloud_search_enabled",
    ),
    ("metrics.prometheus.enabled", "metrics.prometheus"),
    ("metrics.prometheus.endpoint", "metrics.prometheus_endpoint"),
    ("logging.level.root", "logging.level"),
    ("logging.level.lavalink", "logging.level"),
    ("logging.file.name", "logging.file"),
    ("logging.request.enabled", "logging.request_logging"),
];

/// Whole subtrees: everything under the Lavalink prefix lands under the Basalt
/// section, each key in snake_case.
const SUBTREES: &[(&str, &str)] = &[
    ("lavalink.server.sources", "sources"),
    ("lavalink.server.filters", "filters"),
    ("lavalink.server.ratelimit", "ratelimit"),
    ("lavalink.server.httpconfig", "http"),
    ("lavalink.server.timeouts", "timeouts"),
    ("plugins", "plugins"),
];

/// Converts `text` (the contents of `file`) to `config.toml` text. `known` is the tree
/// of keys the configuration has (the serialised defaults): a mapped key absent from
/// it (a plugin or key this build does not have) is listed as ignored too.
pub fn translate(text: &str, file: &str, known: &toml::Table) -> Result<Translated, ConfigError> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| ConfigError::Other {
        file: file.into(),
        message: format!(
            "{}:{}: invalid YAML: {}",
            e.marker().line(),
            e.marker().col() + 1,
            e.info()
        ),
    })?;
    let mut leaves = Vec::new();
    match docs.first() {
        None | Some(Yaml::Null) => {}
        Some(root @ Yaml::Hash(_)) => flatten(root, &mut Vec::new(), &mut leaves),
        Some(_) => {
            return Err(ConfigError::Other {
                file: file.into(),
                message: "expected a YAML mapping of keys at the top level".into(),
            })
        }
    }

    let mut out = toml::Table::new();
    let mut ignored = Vec::new();
    // `logging.level.lavalink` is the node's own level: it wins over `root` whatever
    // the order in the file.
    leaves.sort_by_key(|(path, _)| norm(&path.join(".")) == "logging.level.lavalink");
    for (path, value) in leaves {
        let written = path.join(".");
        let Some(target) = basalt_key(&path) else {
            ignored.push(written);
            continue;
        };
        let Some(default) = lookup(known, &target) else {
            ignored.push(written);
            continue;
        };
        let Some(mut v) = to_toml(value, default) else {
            continue; // `key:` with no value: absent, as in Lavalink
        };
        if norm(&written) == "logging.file.path" {
            // A directory in Lavalink (Spring writes spring.log into it); a file here.
            if let Value::String(dir) = &v {
                v = Value::String(format!("{}/spring.log", dir.trim_end_matches('/')));
            }
        }
        insert(&mut out, &target, v);
    }
    let toml = toml::to_string(&out).map_err(|e| ConfigError::Other {
        file: file.into(),
        message: format!("cannot convert to TOML: {e}"),
    })?;
    Ok(Translated { toml, ignored })
}

/// Spring's relaxed form of a key: lower case without `-` and `_`.
fn norm(key: &str) -> String {
    key.chars()
        .filter(|c| *c != '-' && *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// `clientId` → `client_id`, `lyrics-sources` → `lyrics_sources`,
/// `mediaAPIToken` → `media_api_token`.
pub fn snake_case(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    let mut out = String::with_capacity(key.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c == '-' || c == ' ' {
            out.push('_');
            continue;
        }
        if c.is_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if prev.is_lowercase() || prev.is_ascii_digit() || (prev.is_uppercase() && next_lower) {
                out.push('_');
            }
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// The Basalt key (dotted path) for a Lavalink key path, if Basalt has one.
fn basalt_key(path: &[String]) -> Option<Vec<String>> {
    let full = norm(&path.join("."));
    if full == "logging.file.path" {
        return Some(vec!["logging".into(), "file".into()]);
    }
    if let Some((_, to)) = KEYS.iter().find(|(from, _)| *from == full) {
        return Some(to.split('.').map(String::from).collect());
    }
    for (prefix, section) in SUBTREES {
        let depth = prefix.split('.').count();
        if path.len() > depth && norm(&path[..depth].join(".")) == *prefix {
            let mut key = vec![section.to_string()];
            key.extend(path[depth..].iter().map(|k| snake_case(k)));
            return Some(key);
        }
    }
    None
}

/// The default value at `path` in the known tree. Under an empty table (a free-form
/// map such as per-host headers) any key is accepted and typed by its value.
fn lookup<'a>(known: &'a toml::Table, path: &[String]) -> Option<&'a Value> {
    static ANY: Value = Value::Boolean(false);
    let mut table = known;
    for (i, k) in path.iter().enumerate() {
        let v = table.get(k)?;
        if i + 1 == path.len() {
            return Some(v);
        }
        match v {
            Value::Table(t) if t.is_empty() => return Some(&ANY),
            Value::Table(t) => table = t,
            _ => return None,
        }
    }
    None
}

/// Leaves of the mapping with their key paths; dotted keys are split, lists are leaves.
fn flatten<'a>(node: &'a Yaml, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, &'a Yaml)>) {
    match node {
        Yaml::Hash(map) => {
            for (k, v) in map {
                let key = match k {
                    Yaml::String(s) | Yaml::Real(s) => s.clone(),
                    Yaml::Integer(i) => i.to_string(),
                    Yaml::Boolean(b) => b.to_string(),
                    _ => continue,
                };
                let parts: Vec<String> = key.split('.').map(String::from).collect();
                let n = parts.len();
                path.extend(parts);
                flatten(v, path, out);
                path.truncate(path.len() - n);
            }
        }
        leaf => out.push((path.clone(), leaf)),
    }
}

/// A YAML value as TOML, coerced to the default's type where Lavalink would coerce
/// (`password: 1234` is a string; `port: "2333"` a number). None for null.
fn to_toml(y: &Yaml, default: &Value) -> Option<Value> {
    let v = match y {
        Yaml::Null | Yaml::BadValue | Yaml::Alias(_) => return None,
        Yaml::Boolean(b) => Value::Boolean(*b),
        Yaml::Integer(i) => Value::Integer(*i),
        Yaml::Real(s) => s
            .parse::<f64>()
            .map(Value::Float)
            .unwrap_or_else(|_| Value::String(s.clone())),
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Array(items) => {
            let item_default = match default {
                Value::Array(a) => a.first().cloned().unwrap_or(Value::String(String::new())),
                _ => Value::String(String::new()),
            };
            Value::Array(
                items
                    .iter()
                    .filter_map(|i| to_toml(i, &item_default))
                    .collect(),
            )
        }
        Yaml::Hash(map) => {
            let mut t = toml::Table::new();
            for (k, v) in map {
                if let (Some(k), Some(v)) = (k.as_str(), to_toml(v, &Value::Boolean(false))) {
                    t.insert(snake_case(k), v);
                }
            }
            Value::Table(t)
        }
    };
    Some(match (default, v) {
        (Value::String(_), Value::Integer(i)) => Value::String(i.to_string()),
        (Value::String(_), Value::Float(f)) => Value::String(f.to_string()),
        (Value::String(_), Value::Boolean(b)) => Value::String(b.to_string()),
        (Value::Integer(_), Value::String(s)) => match s.trim().parse::<i64>() {
            Ok(i) => Value::Integer(i),
            Err(_) => Value::String(s),
        },
        (Value::Boolean(_), Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" => Value::Boolean(true),
            "false" => Value::Boolean(false),
            _ => Value::String(s),
        },
        (_, v) => v,
    })
}

fn insert(root: &mut toml::Table, path: &[String], v: Value) {
    let (last, parents) = path.split_last().expect("non-empty key");
    let mut table = root;
    for p in parents {
        let entry = table
            .entry(p.clone())
            .or_insert_with(|| Value::Table(Default::default()));
        if !entry.is_table() {
            *entry = Value::Table(Default::default());
        }
        let Value::Table(t) = entry else { return };
        table = t;
    }
    table.insert(last.clone(), v);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake() {
        assert_eq!(snake_case("clientId"), "client_id");
        assert_eq!(snake_case("lyrics-sources"), "lyrics_sources");
        assert_eq!(snake_case("mediaAPIToken"), "media_api_token");
        assert_eq!(snake_case("lrcLib"), "lrc_lib");
        assert_eq!(snake_case("channelMix"), "channel_mix");
        assert_eq!(snake_case("already_snake"), "already_snake");
        assert_eq!(snake_case("spDc"), "sp_dc");
    }

    #[test]
    fn relaxed_keys() {
        assert_eq!(
            norm("lavalink.server.buffer-duration-ms"),
            "lavalink.server.bufferdurationms"
        );
        let p = |s: &str| s.split('.').map(String::from).collect::<Vec<_>>();
        assert_eq!(
            basalt_key(&p("lavalink.server.httpConfig.proxyHost")).unwrap(),
            p("http.proxy_host")
        );
        assert_eq!(
            basalt_key(&p("plugins.lavasrc.spotify.clientId")).unwrap(),
            p("plugins.lavasrc.spotify.client_id")
        );
        assert_eq!(basalt_key(&p("lavalink.server.gc-warnings")), None);
    }

    #[test]
    fn bad_yaml_is_one_line() {
        let e = translate("server:\n  port: [1,\n", "a.yml", &toml::Table::new()).unwrap_err();
        let s = e.to_string();
        assert!(
            s.starts_with("a.yml: ") && s.contains("invalid YAML"),
            "{s}"
        );
        assert!(!s.contains('\n'));
        let e = translate("- 1\n- 2\n", "a.yml", &toml::Table::new()).unwrap_err();
        assert!(e.to_string().contains("mapping"));
    }
}
