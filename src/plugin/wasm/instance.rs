//! One instantiated filter module: its store, memory and typed exports, with the copy-in /
//! call / copy-out of one frame and the guards around it (epoch deadline, no memory growth
//! while processing).

use wasmtime::{Engine, Memory, Module, ResourceLimiter, Store, Trap, TypedFunc};

use super::abi;

/// Store data: refuses memory and table growth while a frame is processed, and beyond
/// [`abi::MAX_MEMORY_BYTES`] at any time.
pub(crate) struct Limits {
    processing: bool,
    /// A grow was refused during `basalt_process` (the guest sees -1; the host calls it a
    /// fault: a filter that needs memory per frame is broken).
    refused: bool,
}

impl ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(self.allow(desired <= abi::MAX_MEMORY_BYTES))
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(self.allow(desired <= 65_536))
    }
}

impl Limits {
    /// A growth within `limit` is allowed, except while a frame is processed (then it is
    /// refused and remembered as a fault).
    fn allow(&mut self, within_limit: bool) -> bool {
        if self.processing {
            self.refused = true;
            return false;
        }
        within_limit
    }
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fault {
    #[error("ran past its {0} ms deadline")]
    Overrun(u64),
    #[error("trapped: {0}")]
    Trap(String),
    #[error("returned error code {0}")]
    Code(i32),
    #[error("its audio block lies outside its memory")]
    Memory,
    #[error("tried to grow its memory while processing")]
    Grow,
}

pub(crate) struct Instance {
    store: Store<Limits>,
    memory: Memory,
    buffer: usize,
    config: TypedFunc<i32, i32>,
    configure: TypedFunc<i32, i32>,
    create: TypedFunc<(), i32>,
    set: TypedFunc<(i32, i32), i32>,
    process: TypedFunc<i32, i32>,
    reset: TypedFunc<i32, ()>,
    destroy: TypedFunc<i32, ()>,
}

fn classify(e: wasmtime::Error, deadline: u64) -> Fault {
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => Fault::Overrun(deadline * abi::TICK.as_millis() as u64),
        Some(t) => Fault::Trap(t.to_string()),
        None => Fault::Trap(e.to_string()),
    }
}

/// A call outside the audio path (configure, create, set, reset, destroy), with the
/// generous control deadline.
fn control_call<P, R>(store: &mut Store<Limits>, f: &TypedFunc<P, R>, args: P) -> Result<R, Fault>
where
    P: wasmtime::WasmParams,
    R: wasmtime::WasmResults,
{
    store.set_epoch_deadline(abi::CONTROL_DEADLINE_TICKS);
    f.call(store, args)
        .map_err(|e| classify(e, abi::CONTROL_DEADLINE_TICKS))
}

impl Instance {
    /// Instantiates `module` (control thread only) and checks the ABI.
    pub fn new(engine: &Engine, module: &Module) -> Result<Instance, String> {
        if let Some(i) = module.imports().next() {
            return Err(format!(
                "imports {}::{}; filter modules may import nothing",
                i.module(),
                i.name()
            ));
        }
        let mut store = Store::new(
            engine,
            Limits {
                processing: false,
                refused: false,
            },
        );
        store.limiter(|l| l);
        store.set_epoch_deadline(abi::CONTROL_DEADLINE_TICKS);
        let inst = wasmtime::Instance::new(&mut store, module, &[]).map_err(|e| e.to_string())?;
        let memory = inst
            .get_memory(&mut store, "memory")
            .ok_or("exports no memory named `memory`")?;
        macro_rules! func {
            ($name:literal) => {
                inst.get_typed_func(&mut store, $name)
                    .map_err(|e| format!("export `{}`: {e}", $name))?
            };
        }
        let abi_fn: TypedFunc<(), i32> = func!("basalt_abi");
        let buffer_fn: TypedFunc<(), i32> = func!("basalt_buffer");
        let mut me = Instance {
            config: func!("basalt_config"),
            configure: func!("basalt_configure"),
            create: func!("basalt_create"),
            set: func!("basalt_set"),
            process: func!("basalt_process"),
            reset: func!("basalt_reset"),
            destroy: func!("basalt_destroy"),
            store,
            memory,
            buffer: 0,
        };
        let version = abi_fn
            .call(&mut me.store, ())
            .map_err(|e| format!("basalt_abi: {}", classify(e, abi::CONTROL_DEADLINE_TICKS)))?;
        if version != abi::VERSION {
            return Err(format!(
                "speaks ABI version {version}; this node speaks {}",
                abi::VERSION
            ));
        }
        let buffer = buffer_fn.call(&mut me.store, ()).map_err(|e| {
            format!(
                "basalt_buffer: {}",
                classify(e, abi::CONTROL_DEADLINE_TICKS)
            )
        })?;
        let end = (buffer as u32 as usize).checked_add(abi::BLOCK_BYTES);
        if buffer < 0 || end.is_none_or(|e| e > me.memory.data_size(&me.store)) {
            return Err(format!(
                "basalt_buffer returned {buffer}: the {}-byte block must lie inside its memory",
                abi::BLOCK_BYTES
            ));
        }
        me.buffer = buffer as usize;
        Ok(me)
    }

    /// Writes `bytes` into the config area; returns its offset.
    fn put_config(&mut self, bytes: &[u8]) -> Result<usize, Fault> {
        let at = control_call(&mut self.store, &self.config, bytes.len() as i32)?;
        if at < 0 {
            return Err(Fault::Code(at));
        }
        let at = at as usize;
        let mem = self.memory.data_mut(&mut self.store);
        mem.get_mut(at..at + bytes.len())
            .ok_or(Fault::Memory)?
            .copy_from_slice(bytes);
        Ok(at)
    }

    /// JSON → the module's parameter bytes (control thread).
    pub fn configure(&mut self, json: &[u8]) -> Result<Vec<u8>, Fault> {
        let at = self.put_config(json)?;
        let n = control_call(&mut self.store, &self.configure, json.len() as i32)?;
        if n < 0 {
            return Err(Fault::Code(n));
        }
        let mem = self.memory.data(&self.store);
        mem.get(at..at + n as usize)
            .map(<[u8]>::to_vec)
            .ok_or(Fault::Memory)
    }

    /// New per-player state with these parameters (the worker, at a command).
    pub fn create(&mut self, params: &[u8]) -> Result<i32, Fault> {
        let h = control_call(&mut self.store, &self.create, ())?;
        if h < 0 {
            return Err(Fault::Code(h));
        }
        if let Err(e) = self.set(h, params) {
            let _ = control_call(&mut self.store, &self.destroy, h);
            return Err(e);
        }
        Ok(h)
    }

    pub fn set(&mut self, handle: i32, params: &[u8]) -> Result<(), Fault> {
        self.put_config(params)?;
        match control_call(&mut self.store, &self.set, (handle, params.len() as i32))? {
            0 => Ok(()),
            c => Err(Fault::Code(c)),
        }
    }

    pub fn reset(&mut self, handle: i32) -> Result<(), Fault> {
        control_call(&mut self.store, &self.reset, handle)
    }

    pub fn destroy(&mut self, handle: i32) {
        let _ = control_call(&mut self.store, &self.destroy, handle);
    }

    /// One frame through the filter, in place (interleaved stereo, [`abi::FRAMES`]
    /// frames). Allocation-free; on a fault `pcm` is left as it came in.
    pub fn process(&mut self, handle: i32, pcm: &mut [f32]) -> Result<(), Fault> {
        let block = self.buffer..self.buffer + abi::BLOCK_BYTES;
        {
            let mem = self.memory.data_mut(&mut self.store);
            let dst = mem.get_mut(block.clone()).ok_or(Fault::Memory)?;
            for (d, s) in dst.chunks_exact_mut(4).zip(pcm.iter()) {
                d.copy_from_slice(&s.to_le_bytes());
            }
        }
        self.store.data_mut().processing = true;
        self.store.set_epoch_deadline(abi::PROCESS_DEADLINE_TICKS);
        let r = self.process.call(&mut self.store, handle);
        let limits = self.store.data_mut();
        limits.processing = false;
        if std::mem::take(&mut limits.refused) {
            return Err(Fault::Grow);
        }
        match r {
            Ok(0) => {}
            Ok(c) => return Err(Fault::Code(c)),
            Err(e) => return Err(classify(e, abi::PROCESS_DEADLINE_TICKS)),
        }
        let mem = self.memory.data(&self.store);
        let src = mem.get(block).ok_or(Fault::Memory)?;
        for (d, s) in pcm.iter_mut().zip(src.chunks_exact(4)) {
            let v = f32::from_le_bytes([s[0], s[1], s[2], s[3]]);
            *d = if v.is_finite() { v } else { 0.0 };
        }
        Ok(())
    }
}
