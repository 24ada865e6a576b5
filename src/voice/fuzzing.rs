//! Bodies of the voice fuzz targets (`fuzz/fuzz_targets/voice_*.rs`). They live here so the
//! normal test suite compiles them and replays the seed corpora through them.

use super::crypto::{Mode, TransportCipher};
use super::dave::DaveState;
use super::gateway::{parse_binary, parse_text, ServerMsg};
use super::udp::parse_discovery_response;

/// A text frame from a hostile gateway: parse it and drive the DAVE JSON opcodes with it.
pub fn gateway_json(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(frame) = parse_text(s) else { return };
    let mut dave = DaveState::new(1, 2);
    let mut out = Vec::new();
    match frame.msg {
        ServerMsg::ClientsConnect { user_ids } => dave.on_clients_connect(&user_ids),
        ServerMsg::ClientDisconnect { user_id } => dave.on_client_disconnect(user_id),
        ServerMsg::DavePrepareTransition {
            transition_id,
            protocol_version,
        } => {
            let _ = dave.on_prepare_transition(transition_id, protocol_version, &mut out);
        }
        ServerMsg::DaveExecuteTransition { transition_id } => {
            let _ = dave.on_execute_transition(transition_id);
        }
        ServerMsg::DavePrepareEpoch {
            epoch,
            protocol_version,
        } => dave.on_prepare_epoch(epoch, protocol_version, &mut out),
        _ => {}
    }
}

/// A binary frame (`seq u16 | opcode | payload`) given to a DAVE session at protocol
/// version 1, as its own opcode and as every DAVE opcode, so one input reaches every parser.
pub fn dave_binary(data: &[u8]) {
    let Some(frame) = parse_binary(data) else {
        return;
    };
    let mut dave = DaveState::new(1, 2);
    let mut out = Vec::new();
    dave.on_session_description(1, &mut out);
    for op in [frame.op, 25, 27, 29, 30] {
        let _ = dave.on_binary(op, frame.payload, &mut out);
    }
}

/// A datagram on the media socket: discovery parser and the rtpsize receive path.
pub fn udp(data: &[u8]) {
    if parse_discovery_response(data).is_some() {
        assert_eq!(data.len(), 74);
    }
    for mode in [Mode::Aes256Gcm, Mode::XChaCha20Poly1305] {
        let _ = TransportCipher::new(mode, &[7u8; 32]).open(data);
    }
}
