//! Run-time filter plugins: WebAssembly modules (`.wasm`, or `.wat` text) in
//! `[plugins] wasm_dir`, loaded, reloaded and unloaded over REST while players play, each
//! answering to its own `pluginFilters` key.
//!
//! Why WASM (plugins.md §6): third-party code runs in a sandbox — a bug traps instead of
//! crashing the node, CPU per call is bounded by an epoch deadline, memory by a limiter —
//! and a module can be dropped at any time, which native libraries cannot do safely.
//!
//! Real-time rules (§6.3): modules are compiled and instantiated on the control thread;
//! each encode worker takes one instance per plugin from a pre-filled pool and keeps all of
//! its players' state inside it (per-player handles), so a frame only copies 7.5 KiB in,
//! calls `basalt_process`, and copies it back: no allocation, no lock, no instantiation.
//! A trap, an overrun of the deadline or a memory grow during `process` disables that
//! filter for that player only (a `WasmFilterFaultEvent`, a metric) and the audio goes on.
//!
//! The guest ABI is in [`abi`]; README ("WASM filter plugins") documents it for authors.

pub mod abi;
mod instance;
pub mod registry;
pub mod runner;

pub use instance::Fault;
pub use registry::{Loaded, WasmError, WasmFilters};
pub use runner::{Spec, Uses};
