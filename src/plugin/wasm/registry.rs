//! The loaded filter modules: load / reload / unload / rescan of `[plugins] wasm_dir`
//! (control plane), the per-plugin pool of worker instances, and JSON configuration on
//! the control thread.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::SystemTime;

use crossbeam::channel::{self, Sender};
use crossbeam::queue::ArrayQueue;
use serde_json::{json, Value};
use wasmtime::{Config, Engine, Module};

use super::abi;
use super::instance::Instance;

/// Errors of the plugin control plane (each becomes a Lavalink error JSON).
#[derive(Debug, thiserror::Error)]
pub enum WasmError {
    #[error("No WASM plugin directory is configured ([plugins] wasm_dir)")]
    NoDir,
    #[error("Invalid plugin name '{0}': use 1-64 letters, digits, '-' or '_'")]
    BadName(String),
    #[error("No WASM filter '{0}' is loaded")]
    NotLoaded(String),
    #[error("No {0}.wasm or {0}.wat in the WASM plugin directory")]
    NoFile(String),
    #[error("WASM filter '{name}' could not be loaded: {message}")]
    Load { name: String, message: String },
    #[error("At most {} WASM filters can be loaded at once", abi::MAX_FILTERS)]
    TooMany,
    #[error("Invalid pluginFilters.{name}: {message}")]
    Config { name: String, message: String },
}

impl WasmError {
    /// The HTTP status a REST answer uses.
    pub fn status(&self) -> u16 {
        match self {
            WasmError::NotLoaded(_) | WasmError::NoFile(_) => 404,
            _ => 400,
        }
    }
}

/// One loaded module.
pub struct Loaded {
    pub name: String,
    /// Index of the worker-side slot this plugin uses (unique among loaded plugins).
    pub(crate) slot: usize,
    /// Distinguishes a reload from the module it replaced.
    pub(crate) gen: u64,
    path: PathBuf,
    modified: Option<SystemTime>,
    /// Configures on the control thread (REST workers take turns).
    control: Mutex<Instance>,
    /// Instances for the encode workers, made at load time: a worker takes one the first
    /// time one of its players uses this filter.
    pub(crate) pool: ArrayQueue<Box<Instance>>,
    /// Instances a worker let go (reload, slot reuse): freed off the audio thread.
    pub(crate) reaper: Sender<Box<Instance>>,
    unloaded: AtomicBool,
    /// Players for which this filter faulted (trap, overrun, memory grow, error code).
    pub faults: AtomicU64,
}

impl Loaded {
    pub fn is_unloaded(&self) -> bool {
        self.unloaded.load(Ordering::Acquire)
    }

    fn info(&self) -> Value {
        json!({
            "name": self.name,
            "file": self.path.file_name().map(|f| f.to_string_lossy().into_owned()),
            "generation": self.gen,
            "faults": self.faults.load(Ordering::Relaxed),
        })
    }
}

/// The registry of loaded WASM filters of one node.
pub struct WasmFilters {
    engine: Engine,
    dir: Option<PathBuf>,
    /// Instances per plugin: one per encode worker plus one spare.
    instances: usize,
    loaded: RwLock<Vec<Arc<Loaded>>>,
    /// Serialises load / unload / rescan (the list lock is not held while compiling).
    admin: Mutex<()>,
    next_gen: AtomicU64,
    reaper: Sender<Box<Instance>>,
}

impl WasmFilters {
    /// `dir`: `[plugins] wasm_dir` ("" = none); `workers`: encode worker threads. Starts
    /// the epoch ticker and the reaper, then loads every module in the directory.
    pub fn new(dir: &str, workers: usize) -> Result<Arc<WasmFilters>, String> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        let engine = Engine::new(&config).map_err(|e| format!("WASM engine: {e}"))?;
        let (reaper, dead) = channel::bounded::<Box<Instance>>(64);
        std::thread::Builder::new()
            .name("wasm-reaper".into())
            .spawn(move || {
                for inst in dead {
                    drop(inst)
                }
            })
            .map_err(|e| format!("wasm-reaper thread: {e}"))?;
        let me = Arc::new(WasmFilters {
            engine,
            dir: (!dir.is_empty()).then(|| PathBuf::from(dir)),
            instances: workers.max(1) + 1,
            loaded: RwLock::new(Vec::new()),
            admin: Mutex::new(()),
            next_gen: AtomicU64::new(1),
            reaper,
        });
        let weak: Weak<WasmFilters> = Arc::downgrade(&me);
        std::thread::Builder::new()
            .name("wasm-epoch".into())
            .spawn(move || loop {
                std::thread::sleep(abi::TICK);
                match weak.upgrade() {
                    Some(w) => w.engine.increment_epoch(),
                    None => break,
                }
            })
            .map_err(|e| format!("wasm-epoch thread: {e}"))?;
        if me.dir.is_some() {
            let report = me.rescan().map_err(|e| e.to_string())?;
            for f in report["failed"].as_array().into_iter().flatten() {
                log::warn!("WASM filter {}: {}", f["name"], f["error"]);
            }
            let names = report["loaded"].as_array().map_or(0, Vec::len);
            if names > 0 {
                log::info!("WASM filters loaded: {}", report["loaded"]);
            }
        }
        Ok(me)
    }

    fn list_lock(&self) -> std::sync::RwLockReadGuard<'_, Vec<Arc<Loaded>>> {
        self.loaded.read().unwrap_or_else(|e| e.into_inner())
    }

    fn list_mut(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Arc<Loaded>>> {
        self.loaded.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, name: &str) -> Option<Arc<Loaded>> {
        self.list_lock().iter().find(|l| l.name == name).cloned()
    }

    /// Loaded filter names, in load order.
    pub fn names(&self) -> Vec<String> {
        self.list_lock().iter().map(|l| l.name.clone()).collect()
    }

    /// `(name, faults)` for the metrics.
    pub fn fault_counts(&self) -> Vec<(String, u64)> {
        self.list_lock()
            .iter()
            .map(|l| (l.name.clone(), l.faults.load(Ordering::Relaxed)))
            .collect()
    }

    pub fn list(&self) -> Value {
        Value::Array(self.list_lock().iter().map(|l| l.info()).collect())
    }

    fn dir(&self) -> Result<&Path, WasmError> {
        self.dir.as_deref().ok_or(WasmError::NoDir)
    }

    /// The module file for `name`: `name.wasm`, else `name.wat`.
    fn file_of(&self, name: &str) -> Result<PathBuf, WasmError> {
        if !abi::valid_name(name) {
            return Err(WasmError::BadName(name.into()));
        }
        let dir = self.dir()?;
        ["wasm", "wat"]
            .iter()
            .map(|ext| dir.join(format!("{name}.{ext}")))
            .find(|p| p.is_file())
            .ok_or_else(|| WasmError::NoFile(name.into()))
    }

    /// Loads `name` from the directory, replacing (reloading) a loaded one of that name:
    /// players using the old module drop it at their next frame.
    pub fn load(&self, name: &str) -> Result<Value, WasmError> {
        let _admin = self.admin.lock().unwrap_or_else(|e| e.into_inner());
        let path = self.file_of(name)?;
        self.load_file(name, &path).map(|l| l.info())
    }

    fn load_file(&self, name: &str, path: &Path) -> Result<Arc<Loaded>, WasmError> {
        let fail = |message: String| WasmError::Load {
            name: name.into(),
            message,
        };
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        let bytes = std::fs::read(path).map_err(|e| fail(format!("{}: {e}", path.display())))?;
        let module = Module::new(&self.engine, &bytes).map_err(|e| fail(format!("{e:#}")))?;
        let control = Instance::new(&self.engine, &module).map_err(fail)?;
        let pool = ArrayQueue::new(self.instances);
        for _ in 0..self.instances {
            let inst = Instance::new(&self.engine, &module).map_err(fail)?;
            let _ = pool.push(Box::new(inst));
        }
        let mut list = self.list_mut();
        let old = list.iter().position(|l| l.name == name);
        let slot = match old {
            Some(i) => list[i].slot,
            None => {
                if list.len() >= abi::MAX_FILTERS {
                    return Err(WasmError::TooMany);
                }
                (0..abi::MAX_FILTERS)
                    .find(|s| list.iter().all(|l| l.slot != *s))
                    .ok_or(WasmError::TooMany)?
            }
        };
        let loaded = Arc::new(Loaded {
            name: name.into(),
            slot,
            gen: self.next_gen.fetch_add(1, Ordering::Relaxed),
            path: path.to_path_buf(),
            modified,
            control: Mutex::new(control),
            pool,
            reaper: self.reaper.clone(),
            unloaded: AtomicBool::new(false),
            faults: AtomicU64::new(0),
        });
        match old {
            Some(i) => {
                let prev = std::mem::replace(&mut list[i], loaded.clone());
                prev.unloaded.store(true, Ordering::Release);
                log::info!("WASM filter {name} reloaded from {}", path.display());
            }
            None => {
                list.push(loaded.clone());
                log::info!("WASM filter {name} loaded from {}", path.display());
            }
        }
        Ok(loaded)
    }

    /// Unloads `name`: the key is no longer accepted, players drop the filter at their
    /// next frame.
    pub fn unload(&self, name: &str) -> Result<(), WasmError> {
        let _admin = self.admin.lock().unwrap_or_else(|e| e.into_inner());
        let mut list = self.list_mut();
        let i = list
            .iter()
            .position(|l| l.name == name)
            .ok_or_else(|| WasmError::NotLoaded(name.into()))?;
        let gone = list.remove(i);
        gone.unloaded.store(true, Ordering::Release);
        log::info!("WASM filter {name} unloaded");
        Ok(())
    }

    /// Brings the loaded set in line with the directory: new or changed files are
    /// (re)loaded, filters whose file is gone are unloaded. A file that fails to load is
    /// reported and leaves a loaded version of it in place.
    pub fn rescan(&self) -> Result<Value, WasmError> {
        let _admin = self.admin.lock().unwrap_or_else(|e| e.into_inner());
        let dir = self.dir()?;
        let mut found: BTreeMap<String, PathBuf> = BTreeMap::new();
        let entries = std::fs::read_dir(dir).map_err(|e| WasmError::Load {
            name: "*".into(),
            message: format!("{}: {e}", dir.display()),
        })?;
        for e in entries.flatten() {
            let path = e.path();
            let (Some(stem), Some(ext)) = (
                path.file_stem().and_then(|s| s.to_str()),
                path.extension().and_then(|s| s.to_str()),
            ) else {
                continue;
            };
            if !(ext == "wasm" || ext == "wat") || !abi::valid_name(stem) || !path.is_file() {
                continue;
            }
            // `.wasm` wins over `.wat` of the same name.
            if ext == "wasm" || !found.contains_key(stem) {
                found.insert(stem.to_string(), path);
            }
        }
        let (mut loaded, mut unloaded, mut failed) = (Vec::new(), Vec::new(), Vec::new());
        for (name, path) in &found {
            let current = self.get(name);
            let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
            let same = current
                .as_ref()
                .is_some_and(|c| c.path == *path && c.modified == modified && modified.is_some());
            if same {
                continue;
            }
            match self.load_file(name, path) {
                Ok(_) => loaded.push(name.clone()),
                Err(e) => failed.push(json!({"name": name, "error": e.to_string()})),
            }
        }
        let stale: Vec<String> = self
            .names()
            .into_iter()
            .filter(|n| !found.contains_key(n))
            .collect();
        for name in stale {
            let mut list = self.list_mut();
            if let Some(i) = list.iter().position(|l| l.name == name) {
                list.remove(i).unloaded.store(true, Ordering::Release);
                unloaded.push(name);
            }
        }
        Ok(json!({"loaded": loaded, "unloaded": unloaded, "failed": failed}))
    }

    /// `pluginFilters.<name>` → the parameter bytes for the players' instances, on the
    /// control thread (the module parses its JSON in its control instance).
    pub fn configure(
        &self,
        name: &str,
        config: &Value,
    ) -> Result<(Arc<Loaded>, Vec<u8>), WasmError> {
        let loaded = self
            .get(name)
            .ok_or_else(|| WasmError::NotLoaded(name.into()))?;
        let json = config.to_string();
        if json.len() > abi::MAX_CONFIG_BYTES {
            return Err(WasmError::Config {
                name: name.into(),
                message: format!("longer than {} bytes", abi::MAX_CONFIG_BYTES),
            });
        }
        let params = loaded
            .control
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .configure(json.as_bytes())
            .map_err(|f| WasmError::Config {
                name: name.into(),
                message: format!("the filter refused it ({f})"),
            })?;
        Ok((loaded, params))
    }
}
