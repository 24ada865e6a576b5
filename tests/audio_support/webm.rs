//! A minimal WebM (Matroska) writer for generated Opus test and perf inputs, laid out as
//! YouTube's itag 251 files are: EBML header, one Segment with Info and an `A_OPUS` track
//! (OpusHead as CodecPrivate, no DefaultDuration), then Clusters of SimpleBlocks.

/// One element: its ID bytes, an 8-byte size, the payload.
fn element(out: &mut Vec<u8>, id: &[u8], payload: &[u8]) {
    out.extend_from_slice(id);
    out.push(0x01);
    out.extend_from_slice(&(payload.len() as u64).to_be_bytes()[1..]);
    out.extend_from_slice(payload);
}

fn uint(id: &[u8], v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    element(&mut out, id, &v.to_be_bytes());
    out
}

fn float(id: &[u8], v: f64) -> Vec<u8> {
    let mut out = Vec::new();
    element(&mut out, id, &v.to_be_bytes());
    out
}

fn bytes(id: &[u8], v: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    element(&mut out, id, v);
    out
}

/// 48 kHz stereo Opus packets of 20 ms each as a WebM file, clusters of `per_cluster`.
pub fn webm_opus(packets: &[Vec<u8>], per_cluster: usize) -> Vec<u8> {
    let mut head = b"OpusHead".to_vec();
    head.extend_from_slice(&[1, 2, 0x38, 0x01]); // version, channels, pre-skip 312
    head.extend_from_slice(&48_000u32.to_le_bytes());
    head.extend_from_slice(&[0, 0, 0]);
    let mut out = Vec::new();
    let ebml = [
        uint(&[0x42, 0x86], 1),
        uint(&[0x42, 0xF7], 1),
        uint(&[0x42, 0xF2], 4),
        uint(&[0x42, 0xF3], 8),
        bytes(&[0x42, 0x82], b"webm"),
        uint(&[0x42, 0x87], 4),
        uint(&[0x42, 0x85], 2),
    ]
    .concat();
    element(&mut out, &[0x1A, 0x45, 0xDF, 0xA3], &ebml);
    let info = [
        uint(&[0x2A, 0xD7, 0xB1], 1_000_000),
        bytes(&[0x4D, 0x80], b"google/video-file"),
        bytes(&[0x57, 0x41], b"google/video-file"),
        float(&[0x44, 0x89], packets.len() as f64 * 20.0),
    ]
    .concat();
    let audio = [float(&[0xB5], 48_000.0), uint(&[0x9F], 2)].concat();
    let entry = [
        uint(&[0xD7], 1),
        uint(&[0x73, 0xC5], 0x5EED),
        uint(&[0x83], 2),
        bytes(&[0x86], b"A_OPUS"),
        bytes(&[0x63, 0xA2], &head),
        uint(&[0x56, 0xAA], 6_500_000),
        uint(&[0x56, 0xBB], 80_000_000),
        bytes(&[0xE1], &audio),
    ]
    .concat();
    let tracks = bytes(&[0xAE], &entry);
    let mut segment = [
        bytes(&[0x15, 0x49, 0xA9, 0x66], &info),
        bytes(&[0x16, 0x54, 0xAE, 0x6B], &tracks),
    ]
    .concat();
    for (c, chunk) in packets.chunks(per_cluster.max(1)).enumerate() {
        let start_ms = (c * per_cluster * 20) as u64;
        let mut cluster = uint(&[0xE7], start_ms);
        for (i, p) in chunk.iter().enumerate() {
            let mut block = vec![0x81];
            block.extend_from_slice(&((i * 20) as i16).to_be_bytes());
            block.push(0x80);
            block.extend_from_slice(p);
            element(&mut cluster, &[0xA3], &block);
        }
        element(&mut segment, &[0x1F, 0x43, 0xB6, 0x75], &cluster);
    }
    element(&mut out, &[0x18, 0x53, 0x80, 0x67], &segment);
    out
}
