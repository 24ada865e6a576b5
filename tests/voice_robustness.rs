//! Replays the voice fuzz seed corpora, plus random and mutated inputs, through the fuzz
//! target bodies (`basalt::voice::fuzzing`): hostile gateway JSON, DAVE binary frames and UDP
//! datagrams must never panic.

use basalt::voice::fuzzing;
use rand::{Rng, SeedableRng};

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = format!("{}/fuzz/seeds/{target}", env!("CARGO_MANIFEST_DIR"));
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    out.sort();
    assert!(!out.is_empty(), "{dir} has seeds");
    out
}

/// Seeds, each seed with random byte flips / truncations, and pure noise.
fn inputs(target: &str, mutations: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let base = seeds(target);
    let mut all = base.clone();
    for s in &base {
        for _ in 0..mutations {
            let mut m = s.clone();
            match rng.gen_range(0..3) {
                0 if !m.is_empty() => {
                    let i = rng.gen_range(0..m.len());
                    m[i] = rng.gen();
                }
                1 if !m.is_empty() => m.truncate(rng.gen_range(0..m.len())),
                _ => m.extend((0..rng.gen_range(1..16)).map(|_| rng.gen::<u8>())),
            }
            all.push(m);
        }
    }
    for _ in 0..mutations {
        let n = rng.gen_range(0..200);
        all.push((0..n).map(|_| rng.gen()).collect());
    }
    all
}

#[test]
fn gateway_json_never_panics() {
    for i in inputs("voice_gateway_json", 200, 1) {
        fuzzing::gateway_json(&i);
    }
}

#[test]
fn dave_binary_never_panics() {
    // Each input builds a fresh MLS session (P-256 keys): keep the count modest.
    for i in inputs("voice_dave_binary", 25, 2) {
        fuzzing::dave_binary(&i);
    }
}

#[test]
fn udp_datagrams_never_panic() {
    for i in inputs("voice_udp", 500, 3) {
        fuzzing::udp(&i);
    }
}
