//! Graceful drain (SIGTERM or `POST /v4/drain`): the node stops taking new work so
//! clients move their players elsewhere, while what already plays goes on.
//!
//! While draining, a new WebSocket (resumes included) is refused with 503 and a PATCH
//! that would create a player or start a track answers 503 in Lavalink's error format;
//! every other request keeps working. `main` ends the drain once no track plays or
//! `[server] drain_timeout_s` passed, then shuts down (sockets closed with 1001).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use super::update::UpdatePlayer;
use super::ApiError;
use crate::server::session::Session;

/// Whether the node drains, and since when.
#[derive(Default)]
pub struct Drain {
    on: AtomicBool,
    since: OnceLock<Instant>,
}

impl Drain {
    /// Starts the drain; true only for the call that started it.
    pub fn start(&self) -> bool {
        let first = !self.on.swap(true, Ordering::SeqCst);
        if first {
            let _ = self.since.set(Instant::now());
        }
        first
    }

    pub fn is_draining(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// When the drain started (None: not draining).
    pub fn since(&self) -> Option<Instant> {
        self.since.get().copied()
    }

    /// The 503 a PATCH gets when it would create a player or start a track while draining.
    pub fn check_update(
        &self,
        session: &Session,
        guild: crate::player::GuildId,
        up: &UpdatePlayer,
    ) -> Result<(), ApiError> {
        if !self.is_draining() {
            return Ok(());
        }
        let starts_track = up.track.identifier.is_some() || up.track.encoded.value().is_some();
        if session.player(guild).is_none() || starts_track {
            return Err(ApiError::ServiceUnavailable(
                "The node is draining: it takes no new players or tracks; use another node".into(),
            ));
        }
        Ok(())
    }
}
