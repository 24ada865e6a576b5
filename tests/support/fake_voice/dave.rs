//! The fake gateway's DAVE side, as Discord runs it: an external sender identity that proposes
//! adds/removes, plus in-process members (davey sessions) that join the node's group and
//! decrypt its media.

use std::collections::HashMap;
use std::num::NonZeroU16;

use davey::{DaveSession, MediaType, ProposalsOperationType};
use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;

pub struct FakeDave {
    pub channel_id: u64,
    pub node_user: u64,
    signer: SignatureKeyPair,
    pub external_sender: Vec<u8>,
    provider: OpenMlsRustCrypto,
    /// Members in the group (besides the node).
    pub peers: HashMap<u64, DaveSession>,
    /// Members proposed for add, waiting for the node's welcome.
    joining: HashMap<u64, DaveSession>,
    /// Transitions announced to the node, waiting for its op 23.
    pub pending_tid: Option<u16>,
    next_tid: u16,
    /// Transitions the node completed (op 22 sent).
    pub executed: Vec<u16>,
    /// The group has been established with the node (an epoch > 0 exists).
    pub established: bool,
    pub downgraded: bool,
}

fn pv1() -> NonZeroU16 {
    NonZeroU16::new(1).expect("1 is not zero")
}

impl FakeDave {
    pub fn new(channel_id: u64, node_user: u64) -> FakeDave {
        let signer =
            SignatureKeyPair::new(SignatureScheme::ECDSA_SECP256R1_SHA256).expect("p256 key");
        let credential: Credential = BasicCredential::new(b"discord-voice".to_vec()).into();
        let ext = ExternalSender::new(signer.public().to_vec().into(), credential);
        let external_sender = ext
            .tls_serialize_detached()
            .expect("serialise external sender");
        FakeDave {
            channel_id,
            node_user,
            signer,
            external_sender,
            provider: OpenMlsRustCrypto::default(),
            peers: HashMap::new(),
            joining: HashMap::new(),
            pending_tid: None,
            next_tid: 1,
            executed: Vec::new(),
            established: false,
            downgraded: false,
        }
    }

    fn epoch(&self) -> GroupEpoch {
        self.peers
            .values()
            .find_map(|p| p.epoch())
            .unwrap_or_else(|| GroupEpoch::from(0))
    }

    fn group_id(&self) -> GroupId {
        GroupId::from_slice(&self.channel_id.to_be_bytes())
    }

    fn wrap(kind: u8, msgs: Vec<u8>) -> Vec<u8> {
        let mut payload = vec![kind];
        payload.extend(
            VLBytes::new(msgs)
                .tls_serialize_detached()
                .expect("vlbytes"),
        );
        payload
    }

    /// `user` is already in the call with its own group; the gateway proposes adding the node
    /// (from its op 26 key package) to that member, which commits. Returns the op 30 payload
    /// (transition id + Welcome) for the node.
    pub fn member_invites_node(
        &mut self,
        user: u64,
        node_key_package: &[u8],
    ) -> Result<Vec<u8>, String> {
        let mut s =
            DaveSession::new(pv1(), user, self.channel_id, None).map_err(|e| e.to_string())?;
        s.set_external_sender(&self.external_sender)
            .map_err(|e| e.to_string())?;
        let kp = KeyPackageIn::tls_deserialize_exact_bytes(node_key_package)
            .map_err(|e| format!("node key package does not parse: {e}"))?
            .validate(self.provider.crypto(), ProtocolVersion::Mls10)
            .map_err(|e| format!("node key package invalid: {e}"))?;
        let msg = ExternalProposal::new_add::<OpenMlsRustCrypto>(
            kp,
            self.group_id(),
            GroupEpoch::from(0),
            &self.signer,
            SenderExtensionIndex::new(0),
        )
        .map_err(|e| e.to_string())?;
        let payload = Self::wrap(0, msg.tls_serialize_detached().map_err(|e| e.to_string())?);
        let cw = s
            .process_proposals(ProposalsOperationType::APPEND, &payload[1..], None)
            .map_err(|e| format!("member proposals: {e}"))?
            .ok_or("member made no commit")?;
        s.process_commit(&cw.commit)
            .map_err(|e| format!("member own commit: {e}"))?;
        let tid = self.next_tid;
        self.next_tid += 1;
        s.prepare_transition(tid, 1).map_err(|e| e.to_string())?;
        self.peers.insert(user, s);
        self.pending_tid = Some(tid);
        let mut out = tid.to_be_bytes().to_vec();
        out.extend_from_slice(&cw.welcome.ok_or("commit without welcome")?);
        Ok(out)
    }

    /// Creates member `user`, returns the op 27 payload proposing to add it. Existing members
    /// also receive the proposal (as Discord sends it to everyone).
    pub fn propose_add(&mut self, user: u64) -> Vec<u8> {
        let mut s = DaveSession::new(pv1(), user, self.channel_id, None).expect("peer session");
        s.set_external_sender(&self.external_sender)
            .expect("peer external sender");
        let kp_bytes = s.create_key_package().expect("peer key package");
        let kp = KeyPackageIn::tls_deserialize_exact_bytes(&kp_bytes)
            .expect("peer key package parses")
            .validate(self.provider.crypto(), ProtocolVersion::Mls10)
            .expect("peer key package valid");
        let msg = ExternalProposal::new_add::<OpenMlsRustCrypto>(
            kp,
            self.group_id(),
            self.epoch(),
            &self.signer,
            SenderExtensionIndex::new(0),
        )
        .expect("external add proposal");
        let bytes = msg.tls_serialize_detached().expect("serialise proposal");
        self.joining.insert(user, s);
        let payload = Self::wrap(0, bytes);
        self.share_proposals(&payload);
        payload
    }

    /// Removes member `user` from the fake's side and returns the op 27 remove proposal.
    pub fn propose_remove(&mut self, user: u64) -> Option<Vec<u8>> {
        let s = self.peers.remove(&user)?;
        let leaf = s.own_leaf_index()?;
        let msg = ExternalProposal::new_remove::<OpenMlsRustCrypto>(
            leaf,
            self.group_id(),
            self.epoch(),
            &self.signer,
            SenderExtensionIndex::new(0),
        )
        .expect("external remove proposal");
        let bytes = msg.tls_serialize_detached().expect("serialise proposal");
        let payload = Self::wrap(0, bytes);
        self.share_proposals(&payload);
        Some(payload)
    }

    fn share_proposals(&mut self, payload: &[u8]) {
        for p in self.peers.values_mut() {
            // Their own commit is discarded: the node commits first.
            let _ = p.process_proposals(ProposalsOperationType::APPEND, &payload[1..], None);
        }
    }

    /// op 28 from the node: split commit and welcome, let members process them, and return the
    /// op 29 payload (transition id + commit) to send back.
    pub fn on_commit_welcome(&mut self, payload: &[u8]) -> Result<Vec<u8>, String> {
        let mut rest = payload;
        let _msg =
            MlsMessageIn::tls_deserialize(&mut rest).map_err(|e| format!("op 28 commit: {e}"))?;
        let commit = &payload[..payload.len() - rest.len()];
        let welcome = rest;
        let tid = self.next_tid;
        self.next_tid += 1;
        for (uid, p) in self.peers.iter_mut() {
            p.process_commit(commit)
                .map_err(|e| format!("member {uid} commit: {e}"))?;
            p.prepare_transition(tid, 1)
                .map_err(|e| format!("member {uid} prepare: {e}"))?;
        }
        if !self.joining.is_empty() {
            if welcome.is_empty() {
                return Err("op 28 adds members but has no welcome".into());
            }
            for (uid, mut p) in self.joining.drain() {
                p.process_welcome(welcome, None)
                    .map_err(|e| format!("member {uid} welcome: {e}"))?;
                p.prepare_transition(tid, 1)
                    .map_err(|e| format!("member {uid} prepare: {e}"))?;
                self.peers.insert(uid, p);
            }
        }
        self.pending_tid = Some(tid);
        let mut out = tid.to_be_bytes().to_vec();
        out.extend_from_slice(commit);
        Ok(out)
    }

    /// The node's op 23: members switch keys too; returns whether op 22 should be sent.
    pub fn on_transition_ready(&mut self, tid: u16) -> bool {
        if self.pending_tid != Some(tid) {
            return false;
        }
        self.pending_tid = None;
        for p in self.peers.values_mut() {
            let _ = p.execute_transition(tid);
        }
        self.executed.push(tid);
        if !self.downgraded {
            self.established = true;
        }
        true
    }

    /// A downgrade transition id (op 21 with protocol version 0).
    pub fn downgrade(&mut self) -> u16 {
        let tid = self.next_tid;
        self.next_tid += 1;
        self.pending_tid = Some(tid);
        self.downgraded = true;
        self.established = false;
        tid
    }

    pub fn bad_transition_id(&mut self) -> u16 {
        let tid = self.next_tid;
        self.next_tid += 1;
        tid
    }

    /// Decrypts a node media frame with every member; returns the plaintext (if any member
    /// could) and which members could.
    pub fn decrypt(&mut self, frame: &[u8]) -> (Option<Vec<u8>>, Vec<u64>) {
        let mut plain = None;
        let mut who = Vec::new();
        for (uid, p) in self.peers.iter_mut() {
            if let Ok(v) = p.decrypt(self.node_user, MediaType::AUDIO, frame) {
                who.push(*uid);
                plain.get_or_insert(v);
            }
        }
        who.sort();
        (plain, who)
    }
}
