//! The guest ABI (version 1): what a filter module exports. Every export is required.
//!
//! | export | signature | role |
//! |---|---|---|
//! | `memory` | memory | the shared linear memory |
//! | `basalt_abi` | `() -> i32` | returns 1 |
//! | `basalt_buffer` | `() -> i32` | offset of the 7,680-byte audio block: 960 stereo frames, interleaved little-endian f32 |
//! | `basalt_config` | `(len) -> i32` | offset of a byte area of at least `len` bytes for JSON in / parameters out (< 0: too large) |
//! | `basalt_configure` | `(len) -> i32` | parse the `len` JSON bytes at the config area into a parameter block written back there; returns its length, < 0 = invalid |
//! | `basalt_create` | `() -> i32` | new per-player state, returns its handle (< 0: none left) |
//! | `basalt_set` | `(handle, len) -> i32` | apply the `len` parameter bytes at the config area to that state (0 = ok) |
//! | `basalt_process` | `(handle) -> i32` | filter the audio block in place (0 = ok, anything else is a fault) |
//! | `basalt_reset` | `(handle)` | forget history (a seek) |
//! | `basalt_destroy` | `(handle)` | free that state |
//!
//! `basalt_configure` runs on the control thread in an instance of its own (a PATCH with
//! bad JSON answers 400 with no audio thread involved); only the parameter bytes travel to
//! the worker. Modules may import nothing. Memory may grow in every call but
//! `basalt_process`.

/// The ABI version a module must return from `basalt_abi`.
pub const VERSION: i32 = 1;
/// Stereo frames per `basalt_process` call (one 20 ms frame).
pub const FRAMES: usize = basalt_dsp::FRAME;
/// Bytes of the audio block.
pub const BLOCK_BYTES: usize = FRAMES * 2 * 4;
/// Largest `pluginFilters.<name>` JSON a module is asked to parse.
pub const MAX_CONFIG_BYTES: usize = 16 * 1024;
/// Largest linear memory a filter instance may have (it holds every player of a worker).
pub const MAX_MEMORY_BYTES: usize = 64 << 20;
/// Most filter modules loaded at once.
pub const MAX_FILTERS: usize = 16;
/// Epoch ticks (of [`TICK`]) a `basalt_process` call may run: 2–3 ms of the 20 ms frame.
pub const PROCESS_DEADLINE_TICKS: u64 = 3;
/// Epoch ticks for calls on the control thread (configure, create, set).
pub const CONTROL_DEADLINE_TICKS: u64 = 200;
/// Epoch period.
pub const TICK: std::time::Duration = std::time::Duration::from_millis(1);

/// The exports every module must have, with their (params, results) counts of i32.
pub const EXPORTS: &[(&str, usize, usize)] = &[
    ("basalt_abi", 0, 1),
    ("basalt_buffer", 0, 1),
    ("basalt_config", 1, 1),
    ("basalt_configure", 1, 1),
    ("basalt_create", 0, 1),
    ("basalt_set", 2, 1),
    ("basalt_process", 1, 1),
    ("basalt_reset", 1, 0),
    ("basalt_destroy", 1, 0),
];

/// Whether `name` can be a plugin's name (a `pluginFilters` key and a file stem): short,
/// ASCII letters, digits, `-` and `_`, so it is safe in paths, JSON and metric labels.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
