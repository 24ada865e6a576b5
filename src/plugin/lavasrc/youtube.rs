//! What LavaSrc adds on top of the YouTube source: search suggestions for LavaSearch's
//! `texts` (`ytsearch:` from YouTube's suggest service, `ytmsearch:` from YouTube Music's
//! `music/get_search_suggestions`). Requests go through the YouTube source's InnerTube
//! client code, so contexts and headers match the source's own calls.

use serde_json::{Map, Value};

use crate::config::Config;
use crate::net::Outbound;
use crate::source::youtube::clients::{self, ClientSpec};
use crate::source::youtube::innertube::Innertube;

const SUGGEST_URL: &str = "https://suggestqueries-clients6.youtube.com/complete/search";

pub struct YoutubeExtras {
    net: Outbound,
    innertube: Innertube,
    /// WEB_REMIX (music suggestions).
    music: Option<ClientSpec>,
}

impl YoutubeExtras {
    pub fn new(config: &Config) -> YoutubeExtras {
        let net = Outbound::new(config);
        let yt = &config.youtube;
        let all = clients::resolve(&yt.clients).unwrap_or_else(|_| clients::builtin());
        let find = |name: &str| all.iter().find(|c| c.name == name).cloned();
        YoutubeExtras {
            innertube: Innertube::new(
                net.clone(),
                &yt.innertube_base,
                &yt.music_base,
                &yt.visitor_data,
            ),
            net,
            music: find("MUSIC"),
        }
    }

    /// `ytsearch:` suggestions: the suggest service answers JSONP
    /// `window.google.ac.h(["q",[["term",0,[512]],…],{…}])`.
    pub fn search_suggestions(&self, query: &str) -> Result<Vec<String>, String> {
        let resp = self
            .net
            .get(SUGGEST_URL)
            .query(&[
                ("client", "youtube"),
                ("q", query),
                ("gl", "US"),
                ("hl", "en"),
            ])
            .send()
            .map_err(|e| e.detail())?;
        if !resp.is_success() {
            return Err(format!("YouTube suggestions answered {}", resp.status()));
        }
        let body = resp.text().map_err(|e| e.detail())?;
        Ok(parse_jsonp_suggestions(&body))
    }

    /// `ytmsearch:` suggestions: the text entries (`searchSuggestionRenderer`) of every
    /// `searchSuggestionsSectionRenderer`.
    pub fn music_suggestions(&self, query: &str) -> Result<Vec<String>, String> {
        let Some(c) = &self.music else {
            return Ok(Vec::new());
        };
        let mut body = Map::new();
        body.insert("input".into(), query.into());
        let v = self
            .innertube
            .music_call(c, "music/get_search_suggestions", body, "music suggestions")
            .map_err(|e| e.message)?;
        Ok(parse_music_suggestions(&v))
    }
}

/// The suggestion terms of the suggest service's JSONP body (or plain JSON).
pub fn parse_jsonp_suggestions(body: &str) -> Vec<String> {
    let json = match (body.find('('), body.rfind(')')) {
        (Some(a), Some(b)) if a < b => &body[a + 1..b],
        _ => body,
    };
    let Ok(v) = serde_json::from_str::<Value>(json.trim()) else {
        return Vec::new();
    };
    v[1].as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e[0].as_str().map(str::to_string))
        .collect()
}

/// Joined `runs` of each `searchSuggestionRenderer.suggestion` in a
/// `music/get_search_suggestions` answer.
pub fn parse_music_suggestions(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for section in v["contents"].as_array().into_iter().flatten() {
        let items = &section["searchSuggestionsSectionRenderer"]["contents"];
        for item in items.as_array().into_iter().flatten() {
            let runs = &item["searchSuggestionRenderer"]["suggestion"]["runs"];
            if let Some(runs) = runs.as_array() {
                let s: String = runs.iter().filter_map(|r| r["text"].as_str()).collect();
                if !s.is_empty() {
                    out.push(s);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn jsonp_for(query: &str, terms: &[&str]) -> String {
        let list: Vec<Value> = terms.iter().map(|t| json!([t, 0, [512, 433]])).collect();
        format!(
            "window.google.ac.h({})",
            json!([query, list, {"k": 1, "q": "x"}])
        )
    }

    #[test]
    fn jsonp_terms() {
        let body = jsonp_for(
            "daft",
            &["daft punk", "daft punk \"one more time\"", "daft-punk é"],
        );
        assert_eq!(
            parse_jsonp_suggestions(&body),
            vec!["daft punk", "daft punk \"one more time\"", "daft-punk é"]
        );
        assert!(parse_jsonp_suggestions("garbage(").is_empty());
    }

    #[test]
    fn music_terms() {
        let v = json!({"responseContext": {}, "contents": [
            {"searchSuggestionsSectionRenderer": {"contents": [
                {"searchSuggestionRenderer": {"suggestion": {"runs": [{"text": "daft", "bold": true}, {"text": " punk"}]},
                                              "navigationEndpoint": {"searchEndpoint": {"query": "daft punk"}}}},
                {"historySuggestionRenderer": {}}
            ]}},
            {"searchSuggestionsSectionRenderer": {"contents": [
                {"musicResponsiveListItemRenderer": {"flexColumns": []}}
            ]}}
        ]});
        assert_eq!(parse_music_suggestions(&v), vec!["daft punk"]);
    }
}
