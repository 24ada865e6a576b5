//! The WEB client's version from YouTube's own page (sources.md §6.4 "WEB bootstrap"):
//! youtube-source fetches `https://www.youtube.com` once per process and replaces WEB's
//! built-in `clientVersion` with the one in the page's `ytcfg.set({…});` configuration,
//! so WEB never lags behind what the site itself sends. Basalt does this when
//! `[youtube] web_version_from_page` is on (an extra request at the first WEB call).

use std::sync::OnceLock;

use serde_json::Value;

use super::innertube::CONSENT_COOKIE;
use crate::net::Outbound;

/// The site's home page, whose HTML carries the `ytcfg` configuration.
pub const PAGE_URL: &str = "https://www.youtube.com";

/// The scraped version, fetched at most once (a failed fetch keeps the built-in one).
pub struct WebVersion {
    out: Outbound,
    version: OnceLock<Option<String>>,
}

impl WebVersion {
    pub fn new(out: Outbound) -> WebVersion {
        WebVersion {
            out,
            version: OnceLock::new(),
        }
    }

    /// The page's WEB client version, fetching the page on the first call.
    pub fn get(&self) -> Option<&str> {
        self.version.get_or_init(|| self.fetch()).as_deref()
    }

    fn fetch(&self) -> Option<String> {
        let resp = match self
            .out
            .get(PAGE_URL)
            .header("Cookie", CONSENT_COOKIE)
            .send()
        {
            Ok(r) => r,
            Err(e) => {
                log::warn!("youtube: client config fetch failed: {}", e.detail());
                return None;
            }
        };
        if !resp.is_success() {
            log::warn!(
                "youtube: Invalid status code for client config fetch: {}",
                resp.status()
            );
            return None;
        }
        let page = resp.text().ok()?;
        let v = client_version_from_page(&page);
        match &v {
            Some(v) => log::info!("youtube: WEB client version {v} (from the page's ytcfg)"),
            None => log::warn!("youtube: no client version in the page's ytcfg; keeping WEB's"),
        }
        v
    }
}

/// The WEB client version of a youtube.com page: `INNERTUBE_CONTEXT.client.clientVersion`
/// of a `ytcfg.set({…})` call, else its `INNERTUBE_CLIENT_VERSION`. A page sets ytcfg
/// several times (small objects, then the big one); every call is read as one JSON value,
/// so braces or `});` inside strings cannot cut it short.
pub fn client_version_from_page(page: &str) -> Option<String> {
    const CALL: &str = "ytcfg.set(";
    let mut fallback = None;
    let mut rest = page;
    while let Some(i) = rest.find(CALL) {
        rest = &rest[i + CALL.len()..];
        if !rest.starts_with('{') {
            continue;
        }
        let Some(Ok(cfg)) = serde_json::Deserializer::from_str(rest)
            .into_iter::<Value>()
            .next()
        else {
            continue;
        };
        let context = cfg
            .pointer("/INNERTUBE_CONTEXT/client/clientVersion")
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty());
        if let Some(v) = context {
            return Some(v.to_string());
        }
        if fallback.is_none() {
            fallback = cfg
                .get("INNERTUBE_CLIENT_VERSION")
                .and_then(Value::as_str)
                .filter(|v| !v.is_empty())
                .map(str::to_string);
        }
    }
    fallback
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_context_version_past_decoys() {
        let page = r#"<!DOCTYPE html><html><head><script nonce="a">var ytcfg={d:function(){}};
ytcfg.set({"CSI_SERVICE_NAME": "youtube", "TIMING_INFO": {}});window.ytcfg.set('EMERGENCY_BASE_URL', '/error_204');</script>
<script nonce="b">ytcfg.set({"CLIENT_CANARY_STATE":"none","DEVICE":"cbr\u003dChrome\u0026cbrver\u003d131","HL":"en","TEXT":"a }); b","INNERTUBE_CLIENT_VERSION":"2.20260901.00.00","INNERTUBE_CONTEXT":{"client":{"hl":"en","gl":"US","clientName":"WEB","clientVersion":"2.20260902.01.00","platform":"DESKTOP"},"user":{"lockedSafetyMode":false}}}); window.ytcfg.obfuscatedData_ = [];</script></head></html>"#;
        assert_eq!(
            client_version_from_page(page).as_deref(),
            Some("2.20260902.01.00")
        );
    }

    #[test]
    fn falls_back_to_innertube_client_version() {
        let page =
            r#"<script>ytcfg.set({"INNERTUBE_CLIENT_VERSION":"2.20260901.00.00"});</script>"#;
        assert_eq!(
            client_version_from_page(page).as_deref(),
            Some("2.20260901.00.00")
        );
    }

    #[test]
    fn nothing_usable_is_none() {
        for page in [
            "",
            "ytcfg.set(",
            "ytcfg.set({",
            "ytcfg.set({\"INNERTUBE_CONTEXT\":{\"client\":{\"clientVersion\":\"\"}}});",
            "<html>consent.youtube.com</html>",
        ] {
            assert_eq!(client_version_from_page(page), None, "{page}");
        }
    }
}
