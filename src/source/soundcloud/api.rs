//! SoundCloud's api-v2 as the web player uses it (sources.md §1.2): every api request
//! carries the web client's `client_id`, scraped from the site's scripts (or pinned in
//! `[soundcloud] client_id`); a 401 refreshes it and retries once, refreshes at most once an
//! hour so a rejected id does not turn every load into three requests.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::net::{Method, NetError, Outbound, Response};

use super::parse;

/// The web player's API host.
pub const API: &str = "https://api-v2.soundcloud.com";
/// Where the client id is scraped from.
const HOME: &str = "https://soundcloud.com";
/// A desktop Chrome, as lavaplayer sends to every SoundCloud host.
pub const USER_AGENT: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
/// Scrapes are throttled to one per this long (lavaplayer).
const REFRESH_EVERY: Duration = Duration::from_secs(3600);
/// After a failed scrape (site unreachable), the next load may try again this soon, instead
/// of leaving SoundCloud unusable for the hour lavaplayer waits.
const RETRY_FAILED_AFTER: Duration = Duration::from_secs(30);
/// Asset scripts tried for a client id (the home page lists a dozen; the id is in a late one).
const MAX_SCRIPTS: usize = 9;

/// Why a client id could not be had.
#[derive(Debug, thiserror::Error)]
pub enum IdError {
    #[error("{0}")]
    Net(#[from] NetError),
    #[error("Invalid status code for {what} response: {status}")]
    Status { what: &'static str, status: u16 },
    #[error("Could not find client ID from application script.")]
    NotFound,
}

struct IdState {
    id: Option<String>,
    last_scrape: Option<Instant>,
    last_failed: bool,
}

/// "Now" for the refresh throttle; injectable so tests can pass the hour without waiting
/// (sources.md §11.1 H3).
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// The outbound client for SoundCloud plus its client id.
pub struct Api {
    pub net: Outbound,
    state: Mutex<IdState>,
    clock: Clock,
}

impl Api {
    pub fn new(net: Outbound, pinned: &str) -> Api {
        Api::with_clock(net, pinned, Arc::new(Instant::now))
    }

    /// As `new`, reading the time from `clock`.
    pub fn with_clock(net: Outbound, pinned: &str, clock: Clock) -> Api {
        let pinned = pinned.trim();
        Api {
            net,
            clock,
            state: Mutex::new(IdState {
                id: (!pinned.is_empty()).then(|| pinned.to_string()),
                last_scrape: None,
                last_failed: false,
            }),
        }
    }

    /// The current id, scraping one if there is none yet.
    pub fn client_id(&self) -> Result<String, IdError> {
        if let Some(id) = self.lock().id.clone() {
            return Ok(id);
        }
        self.refresh(None)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, IdState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Scrapes a new id unless one was scraped within the hour (or another thread already
    /// replaced `stale`). Returns the id to use now.
    fn refresh(&self, stale: Option<&str>) -> Result<String, IdError> {
        {
            let st = self.lock();
            if let (Some(id), Some(s)) = (&st.id, stale) {
                if id != s {
                    return Ok(id.clone());
                }
            }
            let wait = if st.last_failed {
                RETRY_FAILED_AFTER
            } else {
                REFRESH_EVERY
            };
            let now = (self.clock)();
            if st
                .last_scrape
                .is_some_and(|t| now.saturating_duration_since(t) < wait)
            {
                return st.id.clone().ok_or(IdError::NotFound);
            }
        }
        // Scraped without holding the lock (two requests); a concurrent scrape is harmless.
        let scraped = self.scrape();
        let mut st = self.lock();
        st.last_scrape = Some((self.clock)());
        st.last_failed = scraped.is_err();
        match scraped {
            Ok(id) => {
                log::info!("SoundCloud client id updated");
                st.id = Some(id.clone());
                Ok(id)
            }
            Err(e) => {
                log::warn!("SoundCloud client id update failed: {e}");
                st.id.clone().ok_or(e)
            }
        }
    }

    /// Home page → an id written in the page itself, else in its asset scripts (the last of
    /// the first nine first, as lavaplayer does, then the ones before it).
    fn scrape(&self) -> Result<String, IdError> {
        let resp = self.net.get(HOME).send()?;
        if !resp.is_success() {
            return Err(IdError::Status {
                what: "main page",
                status: resp.status(),
            });
        }
        let page = resp.text()?;
        if let Some(id) = parse::client_id(&page) {
            return Ok(id);
        }
        for script in parse::script_urls(&page).into_iter().take(MAX_SCRIPTS) {
            let resp = self.net.get(&script).send()?;
            if !resp.is_success() {
                continue;
            }
            if let Some(id) = parse::client_id(&resp.text()?) {
                return Ok(id);
            }
        }
        Err(IdError::NotFound)
    }

    /// An api request with `client_id` (never on CDN hosts, which reject it); a 401 refreshes
    /// the id and retries once.
    pub fn request(
        &self,
        method: Method,
        url: &str,
        query: &[(&str, &str)],
    ) -> Result<Response, ApiError> {
        let needs_id = !url.contains("sndcdn.com");
        let id = if needs_id {
            Some(self.client_id()?)
        } else {
            None
        };
        let send = |id: Option<&str>| {
            let mut req = self.net.request(method.clone(), url).query(query);
            if let Some(id) = id {
                req = req.query(&[("client_id", id)]);
            }
            req.send()
        };
        let resp = send(id.as_deref())?;
        if resp.status() == 401 && needs_id {
            let fresh = self.refresh(id.as_deref())?;
            return Ok(send(Some(&fresh))?);
        }
        Ok(resp)
    }

    pub fn get(&self, url: &str, query: &[(&str, &str)]) -> Result<Response, ApiError> {
        self.request(Method::GET, url, query)
    }

    /// GET → JSON of a successful answer; `Ok(None)` for a 404.
    pub fn json(
        &self,
        url: &str,
        query: &[(&str, &str)],
        what: &str,
    ) -> Result<Option<serde_json::Value>, ApiError> {
        let resp = self.get(url, query)?;
        match resp.status() {
            404 => Ok(None),
            _ if resp.is_success() => Ok(Some(resp.json()?)),
            status => Err(ApiError::Status(format!(
                "Invalid status code for {what} response: {status}"
            ))),
        }
    }
}

/// A failed api exchange, with the text lavaplayer's cause would carry.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Net(#[from] NetError),
    #[error("{0}")]
    Id(#[from] IdError),
    #[error("{0}")]
    Status(String),
}

impl ApiError {
    /// The Java-style cause line for a load error.
    pub fn cause(&self) -> String {
        match self {
            ApiError::Net(NetError::Json(e)) => {
                format!("com.fasterxml.jackson.core.JsonParseException: {e}")
            }
            ApiError::Net(e) => format!("java.io.IOException: {}", e.detail()),
            ApiError::Id(e) => format!("java.lang.IllegalStateException: {e}"),
            ApiError::Status(s) => format!("java.io.IOException: {s}"),
        }
    }
}
