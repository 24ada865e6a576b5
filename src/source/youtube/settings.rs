//! The `[youtube]` config section: client chains, client overrides, PO token, cipher
//! service. Every field has a default so an absent section means the built-in behaviour.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::clients::ClientOverride;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct YoutubeConfig {
    /// Bare 11-character video ids are YouTube's.
    pub allow_direct_video_ids: bool,
    /// Bare `PL…`/`UU…` ids are YouTube playlists.
    pub allow_direct_playlist_ids: bool,
    /// Clients asked, in order, for a single video's metadata.
    pub video_clients: Vec<String>,
    /// Clients asked for `ytsearch:`.
    pub search_clients: Vec<String>,
    /// Clients asked for playlists and mixes.
    pub playlist_clients: Vec<String>,
    /// Clients asked for `ytmsearch:`.
    pub music_search_clients: Vec<String>,
    /// Clients asked, in order, for playable formats.
    pub playback_clients: Vec<String>,
    /// Field-by-field overrides (and new clients), by client name.
    pub clients: BTreeMap<String, ClientOverride>,
    /// A static PO token and the visitor data it was minted for (WEB-family clients).
    pub po_token: String,
    pub visitor_data: String,
    /// An external PO-token minting service: POST `{"binding": …}` → `{"poToken": …}`.
    pub po_token_mint_url: String,
    /// OAuth for clients that support it (TV): the device flow runs when enabled and no
    /// refresh token is set. The refresh token is never logged.
    pub oauth_enabled: bool,
    pub oauth_refresh_token: String,
    /// The TV app's public installed-application credentials (sources.md §6.12).
    pub oauth_client_id: String,
    pub oauth_client_secret: String,
    /// `[youtube.cipher]`: remote cipher service or the embedded solver, for clients that
    /// need the player script.
    pub cipher: crate::source::ytcipher::CipherConfig,
    /// Bytes per media request (`range=` chunk); youtube-source uses 11,862,014.
    pub media_chunk_bytes: u64,
    /// The bot wall (`LOGIN_REQUIRED` "confirm you're not a bot") marks the route
    /// planner's address failing and the request is retried from another one. `false`
    /// keeps Lavalink's behaviour: only HTTP 429 marks an address failing.
    pub ban_on_bot_wall: bool,
    /// Replace WEB's `clientVersion` with the one youtube.com's page sends in its
    /// `ytcfg` (fetched once, at the first WEB call), as youtube-source does.
    pub web_version_from_page: bool,
    /// Base URL of InnerTube (tests and staging may point elsewhere).
    pub innertube_base: String,
    /// Base URL of YouTube Music's InnerTube.
    pub music_base: String,
}

fn list(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

impl Default for YoutubeConfig {
    fn default() -> Self {
        YoutubeConfig {
            allow_direct_video_ids: true,
            allow_direct_playlist_ids: true,
            video_clients: list(&["WEB", "VISIONOS", "MWEB"]),
            search_clients: list(&["WEB", "MWEB"]),
            playlist_clients: list(&["WEB", "MWEB"]),
            music_search_clients: list(&["MUSIC"]),
            playback_clients: list(&["VISIONOS", "WEBEMBEDDED", "TVHTML5_SIMPLY", "WEB", "TV"]),
            clients: BTreeMap::new(),
            po_token: String::new(),
            visitor_data: String::new(),
            po_token_mint_url: String::new(),
            oauth_enabled: false,
            oauth_refresh_token: String::new(),
            oauth_client_id: String::new(),
            oauth_client_secret: String::new(),
            cipher: Default::default(),
            media_chunk_bytes: super::stream::CHUNK,
            ban_on_bot_wall: true,
            web_version_from_page: false,
            innertube_base: "https://youtubei.googleapis.com".into(),
            music_base: "https://music.youtube.com".into(),
        }
    }
}
