//! The fuzz target's body on fixed seeds and pseudo-random inputs.

mod common;

use basalt_dsp::fuzzing::run;
use common::Rng;

#[test]
fn json_seeds() {
    let seeds: &[&[u8]] = &[
        br#"{"timescale":{"speed":3.9,"pitch":0.2},"vibrato":{"frequency":40,"depth":3}}"#,
        br#"{"karaoke":{"filterWidth":-5},"lowPass":{"smoothing":0.3},"volume":7}"#,
        br#"{"equalizer":[{"band":14,"gain":1e30}],"distortion":{"tanScale":1e6}}"#,
        br#"{"rotation":{"rotationHz":1e300},"tremolo":{"frequency":-1,"depth":0}}"#,
        br#"{"equalizer":[{"band":15}]}"#,
        br#"{"echo":{"delay":1e9,"feedback":7,"mix":-2},"reverb":{"roomSize":9,"damping":-3}}"#,
        br#"{"phaser":{"stages":1e30,"minFrequency":-5,"maxFrequency":1e9,"feedback":5}}"#,
        br#"{"compressor":{"ratio":0,"attack":-1,"threshold":1e30},"chorus":{"delay":-9,"rate":1e9,"depth":4}}"#,
        br#"{"pluginFilters":{"echo":{"echoLength":"1e9","decay":"5"},"normalization":{"maxAmplitude":9}}}"#,
        b"not json",
    ];
    for s in seeds {
        let mut d = vec![0u8];
        d.extend_from_slice(s);
        d.push(0xff);
        d.extend((0..4000u32).map(|i| (i * 37 % 251) as u8));
        run(&d);
        d[0] = 2;
        run(&d);
    }
}

#[test]
fn random_bytes() {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    for _ in 0..200 {
        let len = (rng.next() % 3000) as usize;
        let mut d: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if let Some(b) = d.first_mut() {
            *b |= 1;
        }
        run(&d);
    }
}
