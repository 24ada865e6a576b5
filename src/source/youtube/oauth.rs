//! OAuth for the TV client (sources.md §6.12): an access token from the configured refresh
//! token (refreshed 60 s before expiry, 15 s back-off after a failure), or the device flow
//! when none is configured — the code is shown in the log, the refresh token logged once
//! so the operator can store it. The configured refresh token is never logged.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::net::Outbound;

const TOKEN_URL: &str = "https://www.youtube.com/o/oauth2/token";
const DEVICE_URL: &str = "https://www.youtube.com/o/oauth2/device/code";
const SCOPE: &str = "http://gdata.youtube.com https://www.googleapis.com/auth/youtube";
const EARLY: Duration = Duration::from_secs(60);
const BACKOFF: Duration = Duration::from_secs(15);

#[derive(Default)]
struct State {
    refresh_token: Option<String>,
    /// `<token_type> <access_token>` and when it expires.
    access: Option<(String, Instant)>,
    failed_at: Option<Instant>,
}

/// Shared by the source and the device-flow thread.
#[derive(Clone)]
pub struct OAuth {
    out: Outbound,
    client_id: String,
    client_secret: String,
    state: Arc<Mutex<State>>,
}

impl OAuth {
    pub fn new(out: Outbound, client_id: &str, client_secret: &str, refresh_token: &str) -> OAuth {
        let rt = refresh_token.trim();
        OAuth {
            out,
            client_id: client_id.trim().to_string(),
            client_secret: client_secret.trim().to_string(),
            state: Arc::new(Mutex::new(State {
                refresh_token: (!rt.is_empty()).then(|| rt.to_string()),
                ..Default::default()
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn has_refresh_token(&self) -> bool {
        self.lock().refresh_token.is_some()
    }

    /// The `Authorization` value for an OAuth client's `/player` request, refreshing the
    /// access token when it is (nearly) expired. None without a usable token.
    pub fn authorization(&self) -> Option<String> {
        let mut st = self.lock();
        if let Some((h, exp)) = &st.access {
            if Instant::now() + EARLY < *exp {
                return Some(h.clone());
            }
        }
        if st.failed_at.is_some_and(|t| t.elapsed() < BACKOFF) {
            return None;
        }
        let rt = st.refresh_token.clone()?;
        let body = json!({
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "refresh_token": rt,
            "grant_type": "refresh_token",
        });
        match self.token_request(&body) {
            Ok(v) => match grant(&v) {
                Some((header, expiry)) => {
                    st.access = Some((header.clone(), expiry));
                    st.failed_at = None;
                    Some(header)
                }
                None => {
                    log::warn!("youtube oauth: refresh answered without an access token");
                    st.failed_at = Some(Instant::now());
                    None
                }
            },
            Err(e) => {
                log::warn!("youtube oauth: refreshing the access token failed: {e}");
                st.failed_at = Some(Instant::now());
                None
            }
        }
    }

    /// The refresh token in use (configured, set over REST, or granted by the device
    /// flow): `GET /youtube` returns it, as youtube-source does.
    pub fn refresh_token(&self) -> Option<String> {
        self.lock().refresh_token.clone()
    }

    /// Replaces the refresh token (`POST /youtube`); the access token is fetched again at
    /// the next use. No token and `skip_initialization` false starts the device flow.
    pub fn set_refresh_token(&self, token: Option<&str>, skip_initialization: bool) {
        let token = token.map(str::trim).filter(|t| !t.is_empty());
        {
            let mut st = self.lock();
            st.refresh_token = token.map(str::to_string);
            st.access = None;
            st.failed_at = None;
        }
        if token.is_none() && !skip_initialization {
            self.start_device_flow();
        }
    }

    /// A fresh access token for any refresh token (`GET /youtube/oauth/{refreshToken}`):
    /// the token endpoint's answer as is. Does not touch the source's own token.
    pub fn new_access_token(&self, refresh_token: &str) -> Result<Value, String> {
        let v = self.token_request(&json!({
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "refresh_token": refresh_token,
            "grant_type": "refresh_token",
        }))?;
        match v.get("error").and_then(Value::as_str) {
            Some(e) => Err(format!("Refreshing access token returned error {e}")),
            None => Ok(v),
        }
    }

    fn token_request(&self, body: &Value) -> Result<Value, String> {
        let resp = self
            .out
            .post(TOKEN_URL)
            .json(body)
            .send()
            .map_err(|e| e.detail())?;
        let status = resp.status();
        let v = resp.json().map_err(|e| e.detail())?;
        if (200..300).contains(&status) || v.get("error").is_some() {
            Ok(v)
        } else {
            Err(format!("status {status}"))
        }
    }

    /// The TV device flow on its own thread: logs the code to enter, polls until granted,
    /// denied or expired, then logs the new refresh token once.
    pub fn start_device_flow(&self) {
        let me = self.clone();
        let spawned = std::thread::Builder::new()
            .name("yt-oauth".into())
            .spawn(move || {
                if let Err(e) = me.device_flow() {
                    log::warn!("youtube oauth: device flow ended: {e}");
                }
            });
        if let Err(e) = spawned {
            log::error!("youtube oauth: cannot start the device flow: {e}");
        }
    }

    fn device_flow(&self) -> Result<(), String> {
        let device_id: String = (0..32)
            .map(|i| {
                let n = (std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.subsec_nanos())
                    .unwrap_or(0)
                    .wrapping_mul(2_654_435_761)
                    .wrapping_add(i * 40_503))
                    >> 7;
                char::from_digit(n % 16, 16).unwrap_or('0')
            })
            .collect();
        let resp = self
            .out
            .post(DEVICE_URL)
            .json(&json!({
                "client_id": self.client_id,
                "scope": SCOPE,
                "device_id": device_id,
                "device_model": "ytlr::",
            }))
            .send()
            .map_err(|e| e.detail())?;
        let v = resp.json().map_err(|e| e.detail())?;
        let code = v["device_code"]
            .as_str()
            .ok_or("no device_code")?
            .to_string();
        log::info!(
            "youtube oauth: go to {} and enter the code {}",
            v["verification_url"]
                .as_str()
                .unwrap_or("https://www.google.com/device"),
            v["user_code"].as_str().unwrap_or("?")
        );
        let interval = Duration::from_secs(v["interval"].as_u64().unwrap_or(5).max(1));
        loop {
            std::thread::sleep(interval);
            let v = self.token_request(&json!({
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "code": code,
                "grant_type": "http://oauth.net/grant_type/device/1.0",
            }))?;
            match v["error"].as_str() {
                Some("authorization_pending") | Some("slow_down") => continue,
                Some(other) => return Err(other.to_string()),
                None => {}
            }
            let (header, expiry) = grant(&v).ok_or("no access token in the grant")?;
            let rt = v["refresh_token"].as_str().map(str::to_string);
            if let Some(rt) = &rt {
                // Shown once so the operator can put it in [youtube] oauth_refresh_token.
                log::info!("youtube oauth: granted; refresh token (store it in config): {rt}");
            }
            let mut st = self.lock();
            st.access = Some((header, expiry));
            if rt.is_some() {
                st.refresh_token = rt;
            }
            return Ok(());
        }
    }
}

/// `<token_type> <access_token>` and its expiry from a token answer.
fn grant(v: &Value) -> Option<(String, Instant)> {
    let token = v["access_token"].as_str()?;
    let kind = v["token_type"].as_str().unwrap_or("Bearer");
    let secs = v["expires_in"].as_u64().unwrap_or(3600);
    Some((
        format!("{kind} {token}"),
        Instant::now() + Duration::from_secs(secs),
    ))
}
