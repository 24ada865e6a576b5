//! DAVE (end-to-end encryption) sender state machine on top of `davey` 0.2 (spec §5.3).
//!
//! Runs with the connection's gateway on the voice I/O thread. It turns gateway DAVE opcodes
//! into davey calls and answers, and whenever a transition is applied it derives our sender
//! key from the MLS group and hands a fresh `DaveEncryptor` to the send path (`KeyChange`).
//! davey 0.2 switches keys only on `execute_transition` (or at once for transition id 0), so
//! we do the same.

use std::collections::HashMap;
use std::num::NonZeroU16;
use std::panic::{catch_unwind, AssertUnwindSafe};

use davey::{DaveSession, ProposalsOperationType};
use log::{debug, warn};
use tungstenite::Message;

use super::crypto::DaveEncryptor;
use super::gateway::{self, op};

const MEDIA_KEY_LABEL: &str = "Discord Secure Frames v0";

/// What the send path must switch to after an event.
// Inline on purpose: the encryptor travels to the pacer and is dropped there without freeing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub enum KeyChange {
    /// Encrypt with this key from the next frame on.
    Set(DaveEncryptor),
    /// Transport-only (protocol version 0, or a group that has no key yet).
    Clear,
}

pub struct DaveState {
    user_id: u64,
    channel_id: u64,
    session: Option<DaveSession>,
    /// Protocol version currently negotiated (0 = transport-only).
    pub protocol_version: u16,
    recognized: Vec<u64>,
    external_sender: Option<Vec<u8>>,
    /// transition id → protocol version it moves to.
    pending: HashMap<u16, u16>,
    /// Count of key packages sent (tests, logs).
    pub key_packages_sent: u32,
}

/// Runs a davey call, turning a panic inside it (hostile input) into an error.
fn guarded<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => Err("panic inside davey".to_string()),
    }
}

impl DaveState {
    pub fn new(user_id: u64, channel_id: u64) -> DaveState {
        DaveState {
            user_id,
            channel_id,
            session: None,
            protocol_version: 0,
            recognized: vec![user_id],
            external_sender: None,
            pending: HashMap::new(),
            key_packages_sent: 0,
        }
    }

    pub fn is_active(&self) -> bool {
        self.session.is_some() && self.protocol_version != 0
    }

    pub fn voice_privacy_code(&self) -> Option<String> {
        self.session
            .as_ref()
            .and_then(|s| s.voice_privacy_code().map(str::to_string))
    }

    /// Session Description: start DAVE when the server negotiated a version > 0.
    pub fn on_session_description(&mut self, version: u16, out: &mut Vec<Message>) {
        self.protocol_version = version;
        if version == 0 {
            return;
        }
        self.start_session(version, out);
    }

    fn start_session(&mut self, version: u16, out: &mut Vec<Message>) {
        let Some(v) = NonZeroU16::new(version) else {
            return;
        };
        let (user, channel) = (self.user_id, self.channel_id);
        let mut session = self.session.take();
        let res = guarded(|| {
            match session.as_mut() {
                Some(s) => s
                    .reinit(v, user, channel, None)
                    .map_err(|e| e.to_string())?,
                None => {
                    session =
                        Some(DaveSession::new(v, user, channel, None).map_err(|e| e.to_string())?)
                }
            }
            Ok(())
        });
        self.session = session;
        if let Err(e) = res {
            warn!("DAVE: cannot start session (version {version}): {e}");
            self.session = None;
            return;
        }
        if let Some(ext) = self.external_sender.clone() {
            self.apply_external_sender(&ext);
        }
        self.send_key_package(out);
    }

    fn apply_external_sender(&mut self, ext: &[u8]) {
        let Some(s) = self.session.as_mut() else {
            return;
        };
        if let Err(e) = guarded(|| s.set_external_sender(ext).map_err(|e| e.to_string())) {
            warn!("DAVE: external sender rejected: {e}");
        }
    }

    fn send_key_package(&mut self, out: &mut Vec<Message>) {
        let Some(s) = self.session.as_mut() else {
            return;
        };
        match guarded(|| s.create_key_package().map_err(|e| e.to_string())) {
            Ok(kp) => {
                out.push(gateway::binary(op::DAVE_KEY_PACKAGE, &kp));
                self.key_packages_sent += 1;
            }
            Err(e) => warn!("DAVE: key package failed: {e}"),
        }
    }

    /// Recover from a commit/welcome we could not process: tell the gateway, rejoin.
    fn invalid(&mut self, transition_id: u16, why: &str, out: &mut Vec<Message>) {
        warn!("DAVE: invalid commit/welcome for transition {transition_id}: {why}");
        out.push(gateway::invalid_commit_welcome(transition_id));
        let v = if self.protocol_version == 0 {
            davey::DAVE_PROTOCOL_VERSION
        } else {
            self.protocol_version
        };
        self.start_session(v, out);
    }

    pub fn on_clients_connect(&mut self, ids: &[u64]) {
        for id in ids {
            if !self.recognized.contains(id) {
                self.recognized.push(*id);
            }
        }
    }

    pub fn on_client_disconnect(&mut self, id: u64) {
        if id != self.user_id {
            self.recognized.retain(|x| *x != id);
        }
    }

    /// op 21.
    pub fn on_prepare_transition(
        &mut self,
        tid: u16,
        version: u16,
        out: &mut Vec<Message>,
    ) -> Option<KeyChange> {
        let change = self.prepare(tid, version);
        if tid != 0 {
            out.push(gateway::transition_ready(tid));
        }
        change
    }

    /// op 22.
    pub fn on_execute_transition(&mut self, tid: u16) -> Option<KeyChange> {
        let version = self.pending.remove(&tid)?;
        let s = self.session.as_mut()?;
        match guarded(|| s.execute_transition(tid).map_err(|e| e.to_string())) {
            Ok(true) => Some(self.applied(version)),
            Ok(false) => None,
            Err(e) => {
                warn!("DAVE: execute transition {tid} failed: {e}");
                None
            }
        }
    }

    /// op 24: epoch 1 means the group is (re)created with this version.
    pub fn on_prepare_epoch(&mut self, epoch: u64, version: u16, out: &mut Vec<Message>) {
        if epoch != 1 {
            debug!("DAVE: prepare epoch {epoch} (version {version}) ignored");
            return;
        }
        self.protocol_version = version;
        self.start_session(version, out);
    }

    /// Binary DAVE opcodes 25, 27, 29, 30.
    pub fn on_binary(
        &mut self,
        opcode: u8,
        payload: &[u8],
        out: &mut Vec<Message>,
    ) -> Option<KeyChange> {
        match opcode {
            op::DAVE_EXTERNAL_SENDER => {
                self.external_sender = Some(payload.to_vec());
                self.apply_external_sender(payload);
                None
            }
            op::DAVE_PROPOSALS => {
                let (&kind, rest) = payload.split_first()?;
                let kind = match kind {
                    0 => ProposalsOperationType::APPEND,
                    1 => ProposalsOperationType::REVOKE,
                    _ => return None,
                };
                let s = self.session.as_mut()?;
                let recognized = &self.recognized;
                match guarded(|| {
                    s.process_proposals(kind, rest, Some(recognized))
                        .map_err(|e| e.to_string())
                }) {
                    Ok(Some(cw)) => {
                        let mut msg = Vec::with_capacity(
                            1 + cw.commit.len() + cw.welcome.as_ref().map_or(0, Vec::len),
                        );
                        msg.push(op::DAVE_COMMIT_WELCOME);
                        msg.extend_from_slice(&cw.commit);
                        if let Some(w) = &cw.welcome {
                            msg.extend_from_slice(w);
                        }
                        out.push(Message::binary(msg));
                    }
                    Ok(None) => {}
                    Err(e) => warn!("DAVE: proposals rejected: {e}"),
                }
                None
            }
            op::DAVE_ANNOUNCE_COMMIT => {
                let (tid, commit) = gateway::split_transition(payload)?;
                let s = self.session.as_mut()?;
                match guarded(|| s.process_commit(commit).map_err(|e| e.to_string())) {
                    Ok(true) => {
                        let v = self.protocol_version;
                        self.on_prepare_transition(tid, v, out)
                    }
                    Ok(false) => None,
                    Err(e) => {
                        self.invalid(tid, &e, out);
                        None
                    }
                }
            }
            op::DAVE_WELCOME => {
                let (tid, welcome) = gateway::split_transition(payload)?;
                let s = self.session.as_mut()?;
                let recognized = &self.recognized;
                match guarded(|| {
                    s.process_welcome(welcome, Some(recognized))
                        .map_err(|e| e.to_string())
                }) {
                    Ok(()) => {
                        let v = self.protocol_version;
                        self.on_prepare_transition(tid, v, out)
                    }
                    Err(e) => {
                        self.invalid(tid, &e, out);
                        None
                    }
                }
            }
            _ => None,
        }
    }

    fn prepare(&mut self, tid: u16, version: u16) -> Option<KeyChange> {
        let s = self.session.as_mut()?;
        if let Err(e) = guarded(|| {
            s.prepare_transition(tid, version)
                .map_err(|e| e.to_string())
        }) {
            warn!("DAVE: prepare transition {tid} failed: {e}");
            return None;
        }
        if tid == 0 {
            Some(self.applied(version))
        } else {
            self.pending.insert(tid, version);
            None
        }
    }

    /// A transition to `version` was applied inside davey; derive the matching sender key.
    fn applied(&mut self, version: u16) -> KeyChange {
        self.protocol_version = version;
        if version == 0 {
            debug!("DAVE: downgraded to transport-only");
            return KeyChange::Clear;
        }
        match self.own_sender_secret() {
            Some(secret) => {
                debug!(
                    "DAVE: new sender key (privacy code {:?})",
                    self.voice_privacy_code()
                );
                KeyChange::Set(DaveEncryptor::new(&secret))
            }
            None => KeyChange::Clear,
        }
    }

    /// MLS-Exporter("Discord Secure Frames v0", user id little-endian, 16) of the established
    /// group — the seed davey gives its own encryptor.
    fn own_sender_secret(&self) -> Option<[u8; 16]> {
        let group = self.session.as_ref()?.group()?;
        if group.epoch().as_u64() == 0 {
            return None;
        }
        let crypto = openmls_rust_crypto::RustCrypto::default();
        let v = group
            .export_secret(&crypto, MEDIA_KEY_LABEL, &self.user_id.to_le_bytes(), 16)
            .ok()?;
        v.try_into().ok()
    }
}
