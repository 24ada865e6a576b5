//! The `youtube` source (sources.md §6): YouTube and YouTube Music built in, with the
//! youtube-source plugin's identifiers, TrackInfo and error messages. Loads and playback
//! go through chains of InnerTube clients (`clients.rs`, data from `[youtube]`); a client
//! that fails is named in the error and the next one is tried.

pub mod clients;
pub mod formats;
pub mod ident;
pub mod innertube;
pub mod live;
pub mod mapping;
pub mod oauth;
pub mod potoken;
pub mod rest;
pub mod settings;
pub mod stream;
pub mod webcfg;

use std::sync::Arc;

use self::clients::{ClientSpec, Family, PoTokenPolicy};
use self::ident::{Claims, Route};
use self::innertube::{Innertube, PlayerOptions};
use self::mapping::YtError;
use self::stream::{ChunkError, ChunkedStream, Refresh};
use super::ytcipher::CipherManager;
use super::{Answer, LoadRequest, MediaInput, Source, SourceError};
use crate::config::Config;
use crate::track::{Severity, TrackData};

pub use settings::YoutubeConfig;

/// The version youtube-source's "All clients failed" message names (`yts.version`).
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Solves a media URL for clients that need the player script (signature and `n`).
/// The cipher manager implements it; tests give a fake (sources.md §11.1 H5).
pub trait Solver: Send + Sync {
    /// The current player script's signature timestamp (sent on `/player`).
    fn signature_timestamp(&self) -> Result<u32, String>;
    /// `url` with the solved signature under `sp` and the `n` parameter transformed.
    fn resolve(&self, url: &str, s: Option<&str>, sp: &str) -> Result<String, String>;
}

impl Solver for CipherManager {
    fn signature_timestamp(&self) -> Result<u32, String> {
        self.player_script()
            .map(|p| p.sts)
            .map_err(|e| e.to_string())
    }

    fn resolve(&self, url: &str, s: Option<&str>, sp: &str) -> Result<String, String> {
        let script = self.player_script().map_err(|e| e.to_string())?;
        CipherManager::resolve(self, url, s, Some(sp), &script).map_err(|e| e.to_string())
    }
}

/// What a chain is for (which capability a client needs).
#[derive(Clone, Copy)]
enum Op {
    Video,
    Search,
    MusicSearch,
    Playlist,
    Mix,
    Playback,
}

impl Op {
    fn allowed(self, c: &ClientSpec) -> bool {
        let k = &c.capabilities;
        match self {
            Op::Video => k.video,
            Op::Search => k.search,
            Op::MusicSearch => k.music_search,
            Op::Playlist => k.playlist,
            Op::Mix => k.mix,
            Op::Playback => k.playback,
        }
    }
}

struct Inner {
    it: Innertube,
    clients: Vec<ClientSpec>,
    cfg: YoutubeConfig,
    search_enabled: bool,
    playlist_pages: u32,
    solver: Option<Arc<dyn Solver>>,
    po: potoken::PoTokens,
    oauth: oauth::OAuth,
}

/// The source. Cheap to share; loads run concurrently on loader threads.
pub struct YoutubeSource {
    inner: Arc<Inner>,
}

impl YoutubeSource {
    /// With the cipher of `[youtube.cipher]` (remote service, else the embedded solver).
    pub fn new(config: &Config) -> YoutubeSource {
        let c = &config.youtube.cipher;
        let solver: Option<Arc<dyn Solver>> =
            (c.embedded || !c.remote_url.trim().is_empty()).then(|| {
                let out = crate::net::Outbound::new(config).routed();
                Arc::new(CipherManager::new(&out, c)) as Arc<dyn Solver>
            });
        YoutubeSource::with_solver(config, solver)
    }

    /// With a cipher solver for clients that need the player script.
    pub fn with_solver(config: &Config, solver: Option<Arc<dyn Solver>>) -> YoutubeSource {
        let cfg = config.youtube.clone();
        let clients = clients::resolve(&cfg.clients).unwrap_or_else(|e| {
            log::error!("{e}; using the built-in clients");
            clients::builtin()
        });
        let out = crate::net::Outbound::new(config).routed();
        let it = Innertube::new(
            out.clone(),
            &cfg.innertube_base,
            &cfg.music_base,
            &cfg.visitor_data,
        )
        .with_bot_wall_ban(cfg.ban_on_bot_wall)
        .with_web_version_from_page(cfg.web_version_from_page);
        let po = potoken::PoTokens::new(out.clone(), &cfg.po_token, &cfg.po_token_mint_url);
        // Always present so `POST /youtube` can set a refresh token at run time; without
        // one it authorizes nothing. The device flow starts only when enabled in config.
        let oauth = oauth::OAuth::new(
            out,
            &cfg.oauth_client_id,
            &cfg.oauth_client_secret,
            &cfg.oauth_refresh_token,
        );
        if cfg.oauth_enabled && !oauth.has_refresh_token() {
            oauth.start_device_flow();
        }
        YoutubeSource {
            inner: Arc::new(Inner {
                it,
                clients,
                search_enabled: config.player.youtube_search_enabled,
                playlist_pages: config.player.youtube_playlist_load_limit,
                cfg,
                solver,
                po,
                oauth,
            }),
        }
    }
}

impl Source for YoutubeSource {
    fn name(&self) -> &'static str {
        "youtube"
    }

    fn load(&self, req: &LoadRequest<'_>) -> Answer {
        let claims = Claims {
            search: self.inner.search_enabled,
            direct_video_ids: self.inner.cfg.allow_direct_video_ids,
            direct_playlist_ids: self.inner.cfg.allow_direct_playlist_ids,
        };
        match ident::parse(req.identifier, claims) {
            None => Answer::NotMine,
            Some(route) => self.inner.load(route),
        }
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }

    /// A saved YouTube track replays from its video id (no source bytes).
    fn can_decode(&self, track: &TrackData) -> bool {
        ident::is_video_id(&track.info.identifier)
    }

    fn open(&self, track: &TrackData) -> Result<MediaInput, SourceError> {
        let id = &track.info.identifier;
        if !ident::is_video_id(id) {
            return Err(SourceError::friendly(
                "This video is unavailable",
                Severity::Suspicious,
                "",
            ));
        }
        self.inner.clone().open(id)
    }
}

/// `/v4/info` `plugins` entries for the built-in YouTube source: clients that look for
/// youtube-source's plugin entry find one, carrying Basalt's version.
pub fn info_plugins(source_names: &[&str]) -> Vec<serde_json::Value> {
    if source_names.contains(&"youtube") {
        vec![serde_json::json!({ "name": "youtube-plugin", "version": VERSION })]
    } else {
        Vec::new()
    }
}

/// `Client [<NAME>] failed: …` lines joined under youtube-source's headline.
fn all_failed(errors: &[(String, YtError)]) -> SourceError {
    let mut msg = format!("(yts.version: {VERSION}) All clients failed to load the item.\n");
    for (name, e) in errors {
        msg.push_str(&format!("\nClient [{name}] failed: {}", e.message));
    }
    SourceError::friendly(msg, Severity::Suspicious, "")
}

/// How one pass over a client chain failed.
enum ChainFailure {
    /// A "cannot be loaded" verdict: the chain stopped there.
    Final(YtError),
    /// Every client failed, in chain order.
    All(Vec<(String, YtError)>),
}

impl ChainFailure {
    fn into_error(self) -> SourceError {
        match self {
            ChainFailure::Final(e) => to_source_error(e),
            ChainFailure::All(errors) => all_failed(&errors),
        }
    }
}

fn to_source_error(e: YtError) -> SourceError {
    SourceError::friendly(e.message, e.severity, "")
}

impl Inner {
    fn chain(&self, op: Op) -> Vec<&ClientSpec> {
        let names = match op {
            Op::Video => &self.cfg.video_clients,
            Op::Search => &self.cfg.search_clients,
            Op::MusicSearch => &self.cfg.music_search_clients,
            Op::Playlist | Op::Mix => &self.cfg.playlist_clients,
            Op::Playback => &self.cfg.playback_clients,
        };
        names
            .iter()
            .filter_map(|n| {
                let found = self.clients.iter().find(|c| c.name.eq_ignore_ascii_case(n));
                if found.is_none() {
                    log::warn!("youtube: unknown client {n} in the chain; skipped");
                }
                found
            })
            .filter(|c| op.allowed(c))
            .collect()
    }

    /// Runs `f` with each client of the chain until one succeeds (§6.3). When the last
    /// client failed on a transient network error, the whole chain runs once more, as
    /// youtube-source retries a load whose cause is a retriable network exception.
    fn run<T>(
        &self,
        op: Op,
        mut f: impl FnMut(&ClientSpec) -> Result<T, YtError>,
    ) -> Result<T, SourceError> {
        match self.run_once(op, &mut f) {
            Err(ChainFailure::All(errors)) if errors.last().is_some_and(|(_, e)| e.network) => {
                log::info!("youtube: load failed on a network error; trying once more");
                self.run_once(op, &mut f).map_err(ChainFailure::into_error)
            }
            other => other.map_err(ChainFailure::into_error),
        }
    }

    /// One pass over the chain.
    fn run_once<T>(
        &self,
        op: Op,
        f: &mut impl FnMut(&ClientSpec) -> Result<T, YtError>,
    ) -> Result<T, ChainFailure> {
        let mut errors: Vec<(String, YtError)> = Vec::new();
        for c in self.chain(op) {
            match f(c) {
                Ok(v) => {
                    for (name, e) in &errors {
                        log::debug!(
                            "youtube: client {name} failed before {} succeeded: {}",
                            c.name,
                            e.message
                        );
                    }
                    return Ok(v);
                }
                Err(e) if e.final_verdict => return Err(ChainFailure::Final(e)),
                Err(e) => {
                    log::info!("youtube: client {} failed: {}", c.name, e.message);
                    errors.push((c.name.clone(), e));
                }
            }
        }
        Err(ChainFailure::All(errors))
    }

    fn load(&self, route: Route) -> Answer {
        let res = match route {
            Route::Nothing => return Answer::Empty,
            Route::Video { id, .. } => self
                .run(Op::Video, |c| self.video(c, &id))
                .map(Answer::Track),
            Route::Search(q) => self
                .run(Op::Search, |c| {
                    Ok(mapping::search_results(&self.it.search(c, &q)?, c.family))
                })
                .map(search_answer),
            Route::MusicSearch(q) => self
                .run(Op::MusicSearch, |c| {
                    Ok(mapping::music_search_results(&self.it.music_search(c, &q)?))
                })
                .map(search_answer),
            Route::Playlist { list, video } => {
                self.run(Op::Playlist, |c| self.playlist(c, &list, video.as_deref()))
            }
            Route::Mix { list, video } => self.run(Op::Mix, |c| {
                let (name, tracks) = mapping::mix(&self.it.next(c, &video, &list)?)?;
                Ok(playlist_answer(name, tracks, Some(&video)))
            }),
            Route::WatchVideos(url) => return self.watch_videos(&url),
        };
        res.unwrap_or_else(Answer::Error)
    }

    /// One video's metadata from `/player` (embed fields first, then without, §6.6).
    fn video(&self, c: &ClientSpec, id: &str) -> Result<TrackData, YtError> {
        let resp = self.player(c, id, false)?;
        mapping::video_track(&resp, id)
    }

    /// `/player` with the embed retry and one bot-wall retry from another address.
    fn player(
        &self,
        c: &ClientSpec,
        id: &str,
        playback: bool,
    ) -> Result<serde_json::Value, YtError> {
        let mut o = PlayerOptions {
            embed: !c.oauth,
            ..Default::default()
        };
        // Metadata never needs the cipher; playback formats of script clients do.
        if c.needs_player_script && playback {
            let Some(s) = &self.solver else {
                return Err(YtError::suspicious(
                    "This client needs the player script and no cipher is configured.",
                ));
            };
            let sts = s.signature_timestamp().map_err(|e| {
                let mut y = YtError::suspicious(format!("Could not read the player script: {e}"));
                y.status = Some(0);
                y
            })?;
            o.signature_timestamp = Some(sts);
        }
        if c.embedded && playback {
            o.encrypted_host_flags = self.host_flags(id);
        }
        if c.family == Family::Web {
            o.po_token = self.po.player_token();
        }
        if c.oauth {
            o.authorization = self.oauth.authorization();
        }
        let mut attempt = 0;
        loop {
            let resp = self.it.player(c, id, &o)?;
            let verdict = mapping::playability(&resp);
            match verdict {
                Err(e) if e.embed_refused && o.embed && !c.embedded => o.embed = false,
                Err(e) if e.bot_wall && attempt == 0 && self.it.rotates() => {}
                _ => return Ok(resp),
            }
            attempt += 1;
            if attempt > 2 {
                return Ok(resp);
            }
        }
    }

    /// `encryptedHostFlags` from the embed page (embedded clients, §6.6).
    fn host_flags(&self, id: &str) -> Option<String> {
        let resp = self
            .it
            .outbound()
            .get(&format!("https://www.youtube.com/embed/{id}"))
            .header("Referer", "https://www.google.com/")
            .header("Cookie", innertube::CONSENT_COOKIE)
            .send()
            .ok()?;
        let text = resp.text().ok()?;
        let key = "\"encryptedHostFlags\":\"";
        let start = text.find(key)? + key.len();
        let end = text[start..].find('"')?;
        Some(text[start..start + end].to_string())
    }

    fn playlist(&self, c: &ClientSpec, list: &str, video: Option<&str>) -> Result<Answer, YtError> {
        let first = self.it.browse(c, Some(&format!("VL{list}")), None)?;
        let page = mapping::playlist_first_page(&first, c.family)?;
        let name = page
            .name
            .ok_or_else(|| YtError::suspicious("Could not find the playlist name."))?;
        let mut tracks = page.tracks;
        let mut next = page.continuation;
        let mut pages = 1;
        while let Some(token) = next.take() {
            if pages >= self.playlist_pages.max(1) {
                break;
            }
            let resp = self.it.browse(c, None, Some(&token))?;
            let more = mapping::playlist_continuation(&resp);
            tracks.extend(more.tracks);
            next = more.continuation;
            pages += 1;
        }
        if tracks.is_empty() {
            return Err(YtError::suspicious("Could not find tracks from playlist."));
        }
        Ok(playlist_answer(name, tracks, video))
    }

    /// `/watch_videos`: YouTube redirects to a temporary playlist; route its location.
    fn watch_videos(&self, url: &str) -> Answer {
        let resp = self
            .it
            .outbound()
            .get(url)
            .header("Cookie", innertube::CONSENT_COOKIE)
            .follow_redirects(false)
            .send();
        match resp
            .ok()
            .and_then(|r| r.header("location").map(str::to_string))
        {
            Some(loc) => {
                let loc = if loc.starts_with('/') {
                    format!("https://www.youtube.com{loc}")
                } else {
                    loc
                };
                Answer::Reference {
                    identifier: loc,
                    title: None,
                    descriptor: None,
                }
            }
            None => Answer::Empty,
        }
    }

    /// Playback: each playback client in turn until one gives a readable format.
    fn open(self: Arc<Self>, id: &str) -> Result<MediaInput, SourceError> {
        let mut errors = Vec::new();
        for c in self.chain(Op::Playback) {
            match self.open_with(c, id) {
                Ok(m) => return Ok(m),
                Err(e) if e.final_verdict => return Err(to_source_error(e)),
                Err(e) => {
                    log::info!(
                        "youtube: playback with client {} failed: {}",
                        c.name,
                        e.message
                    );
                    errors.push((c.name.clone(), e));
                }
            }
        }
        Err(all_failed(&errors))
    }

    fn open_with(self: &Arc<Self>, c: &ClientSpec, id: &str) -> Result<MediaInput, YtError> {
        let resp = self.player(c, id, true)?;
        mapping::playability(&resp)?;
        let live = mapping::is_live(&resp);
        if live {
            return self.open_live(c, id, &resp);
        }
        let all = formats::parse(&resp, false);
        let fmt = formats::best(&all)?.clone();
        let url = self.prepare_url(c, &fmt, id)?;
        let len = fmt.content_length.unwrap_or(0);
        let refresh = Box::new(Refresher {
            inner: self.clone(),
            client: c.clone(),
            video: id.to_string(),
            itag: fmt.itag,
        });
        let out = self.it.outbound().clone();
        let chunk = self.cfg.media_chunk_bytes;
        let stream =
            ChunkedStream::open_with_chunk(out, url, len, refresh, chunk).map_err(|e| match e {
                ChunkError::Status(s) => {
                    let mut e = YtError::suspicious(format!("Invalid status code for media: {s}"));
                    e.status = Some(s);
                    e
                }
                ChunkError::Net(n) => YtError::suspicious(format!("Media request failed: {n}")),
            })?;
        Ok(MediaInput {
            reader: Box::new(stream),
            extension: Some(fmt.extension().to_string()),
            mime: Some(fmt.mime.clone()),
            is_stream: false,
            segments: None,
        })
    }

    /// Live: the HLS manifest (iOS/VisionOS answers carry one), through the HLS engine;
    /// else the adaptive MP4 format's `sq=` segments (`live.rs`). A live WebM format is
    /// refused with youtube-source's message.
    fn open_live(
        &self,
        c: &ClientSpec,
        id: &str,
        resp: &serde_json::Value,
    ) -> Result<MediaInput, YtError> {
        let Some(url) = resp
            .pointer("/streamingData/hlsManifestUrl")
            .and_then(serde_json::Value::as_str)
        else {
            let all = formats::parse(resp, true);
            let fmt = formats::best(&all)?;
            if fmt.extension() == "webm" {
                return Err(YtError::common(
                    "YouTube WebM streams are currently not supported.",
                ));
            }
            let url = self.prepare_url(c, fmt, id)?;
            let stream = live::LiveSegments::open(self.it.outbound().clone(), &url)
                .map_err(YtError::suspicious)?;
            return Ok(MediaInput {
                reader: Box::new(symphonia::core::io::ReadOnlySource::new(stream)),
                extension: Some("mp4".into()),
                mime: Some(fmt.mime.clone()),
                is_stream: true,
                segments: None,
            });
        };
        let url = reqwest::Url::parse(url)
            .map_err(|e| YtError::suspicious(format!("Bad HLS URL: {e}")))?;
        super::hls::open(self.it.outbound(), &url, false)
            .map_err(|e| YtError::suspicious(e.to_string()))
    }

    /// The playable URL: cipher for script clients, then `pot=` for token clients.
    fn prepare_url(
        &self,
        c: &ClientSpec,
        fmt: &formats::Format,
        id: &str,
    ) -> Result<String, YtError> {
        let mut url = fmt.url.clone();
        if c.needs_player_script {
            let solver = self.solver.as_ref().ok_or_else(|| {
                YtError::suspicious(
                    "This client needs the player script and no cipher is configured.",
                )
            })?;
            url = solver
                .resolve(&url, fmt.signature.as_deref(), &fmt.signature_param)
                .map_err(|e| {
                    let mut y = YtError::suspicious(format!("Could not solve the cipher: {e}"));
                    y.status = Some(0);
                    y
                })?;
        } else if fmt.signature.is_some() {
            return Err(YtError::suspicious(
                "The format is ciphered but the client needs no player script.",
            ));
        }
        if c.po_token == PoTokenPolicy::Streaming {
            if let Some(t) = self.po.streaming_token(id) {
                let sep = if url.contains('?') { '&' } else { '?' };
                url = format!("{url}{sep}pot={}", urlencode(&t));
            }
        }
        Ok(url)
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn search_answer(tracks: Vec<TrackData>) -> Answer {
    if tracks.is_empty() {
        Answer::Empty
    } else {
        Answer::Search(tracks)
    }
}

fn playlist_answer(name: String, tracks: Vec<TrackData>, video: Option<&str>) -> Answer {
    let selected_track = video
        .and_then(|v| tracks.iter().position(|t| t.info.identifier == v))
        .map_or(-1, |i| i as i32);
    Answer::Playlist {
        name,
        selected_track,
        tracks,
    }
}

/// Re-fetches the player response with the same client and takes the same itag (403 or
/// expired URL mid-track, §6.9).
struct Refresher {
    inner: Arc<Inner>,
    client: ClientSpec,
    video: String,
    itag: u64,
}

impl Refresh for Refresher {
    fn fresh_url(&self) -> Result<String, String> {
        let resp = self
            .inner
            .player(&self.client, &self.video, true)
            .map_err(|e| e.message)?;
        mapping::playability(&resp).map_err(|e| e.message)?;
        let all = formats::parse(&resp, false);
        let fmt = all
            .iter()
            .find(|f| f.itag == self.itag)
            .ok_or_else(|| format!("format {} is gone from the new player response", self.itag))?;
        self.inner
            .prepare_url(&self.client, fmt, &self.video)
            .map_err(|e| e.message)
    }
}
