//! The audio side: each encode worker keeps one instance per plugin in a thread-local
//! slot table (taken from the plugin's pre-filled pool the first time one of its players
//! uses it), and each player keeps its handles into those instances ([`Uses`]). Every
//! call here runs on the player's own encode worker; players never change worker, so a
//! handle always meets the instance that made it.

use std::cell::RefCell;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::abi::MAX_FILTERS;
use super::instance::{Fault, Instance};
use super::registry::Loaded;

/// A filter a player should run: the plugin and the parameters its control instance made
/// from the player's JSON. Built on the control thread, sent in a command.
pub struct Spec {
    pub plugin: Arc<Loaded>,
    pub params: Vec<u8>,
}

struct Held {
    gen: u64,
    inst: Box<Instance>,
}

thread_local! {
    /// This worker's instances, by plugin slot.
    static SLOTS: RefCell<[Option<Held>; MAX_FILTERS]> =
        const { RefCell::new([const { None }; MAX_FILTERS]) };
}

/// Runs `f` on this worker's instance of `p`, taking one from its pool on first use.
/// `None`: the pool is empty (more workers than instances made at load time).
fn with_instance<R>(p: &Loaded, f: impl FnOnce(&mut Instance) -> R) -> Option<R> {
    SLOTS.with(|slots| {
        let mut slots = slots.borrow_mut();
        let slot = &mut slots[p.slot];
        if slot.as_ref().is_some_and(|h| h.gen != p.gen) {
            // An older module in this slot (reloaded or replaced): freed off this thread.
            if let Some(old) = slot.take() {
                let _ = p.reaper.try_send(old.inst);
            }
        }
        if slot.is_none() {
            let inst = p.pool.pop()?;
            *slot = Some(Held { gen: p.gen, inst });
        }
        slot.as_mut().map(|h| f(&mut h.inst))
    })
}

struct Use {
    plugin: Arc<Loaded>,
    handle: i32,
    on: bool,
}

/// One player's WASM filters, in the order its `pluginFilters` named them.
#[derive(Default)]
pub struct Uses {
    list: Vec<Use>,
}

/// A filter that stopped for this player: its name and why.
pub type Stopped = (String, Fault);

impl Uses {
    pub fn new() -> Uses {
        Uses::default()
    }

    /// Whether a filter is running (the player then needs PCM, not passthrough).
    pub fn active(&self) -> bool {
        self.list.iter().any(|u| u.on && !u.plugin.is_unloaded())
    }

    /// A command: run exactly `specs` from now on (new handles are made, kept ones get
    /// the new parameters, dropped ones are destroyed). Returns the filters that could
    /// not start.
    pub fn apply(&mut self, specs: Vec<Spec>) -> Vec<Stopped> {
        let mut failed = Vec::new();
        let mut next = Vec::with_capacity(specs.len());
        for spec in specs {
            let kept = self
                .list
                .iter()
                .position(|u| u.on && Arc::ptr_eq(&u.plugin, &spec.plugin));
            let r = match kept {
                Some(i) => {
                    let u = self.list.swap_remove(i);
                    let r = with_instance(&u.plugin, |inst| inst.set(u.handle, &spec.params));
                    next.push(u);
                    r.map(|r| r.map(|_| ()))
                }
                None => with_instance(&spec.plugin, |inst| inst.create(&spec.params)).map(|r| {
                    r.map(|handle| {
                        next.push(Use {
                            plugin: spec.plugin.clone(),
                            handle,
                            on: true,
                        })
                    })
                }),
            };
            let err = match r {
                Some(Ok(())) => continue,
                Some(Err(f)) => f,
                None => Fault::Trap("no instance left for this worker".into()),
            };
            if let Some(u) = next
                .last_mut()
                .filter(|u| Arc::ptr_eq(&u.plugin, &spec.plugin))
            {
                u.on = false;
            }
            spec.plugin.faults.fetch_add(1, Ordering::Relaxed);
            failed.push((spec.plugin.name.clone(), err));
        }
        self.release();
        self.list = next;
        failed
    }

    /// One frame (interleaved stereo) through every running filter. A filter that
    /// faults is switched off for this player and reported once; the frame keeps the
    /// audio as it was before that filter. Allocation-free unless a filter faults.
    pub fn process(&mut self, pcm: &mut [f32]) -> Option<Stopped> {
        let mut stopped = None;
        for u in &mut self.list {
            if !u.on {
                continue;
            }
            if u.plugin.is_unloaded() {
                u.on = false;
                continue;
            }
            let r = with_instance(&u.plugin, |inst| inst.process(u.handle, pcm));
            let err = match r {
                Some(Ok(())) => continue,
                Some(Err(f)) => f,
                None => Fault::Trap("no instance left for this worker".into()),
            };
            u.on = false;
            u.plugin.faults.fetch_add(1, Ordering::Relaxed);
            if stopped.is_none() {
                stopped = Some((u.plugin.name.clone(), err));
            }
        }
        stopped
    }

    /// A seek: every filter forgets its history.
    pub fn reset(&mut self) {
        for u in self.list.iter().filter(|u| u.on && !u.plugin.is_unloaded()) {
            let _ = with_instance(&u.plugin, |inst| inst.reset(u.handle));
        }
    }

    /// Frees every handle (the player is going away, or a new set replaces these).
    pub fn release(&mut self) {
        for u in self.list.drain(..) {
            if !u.plugin.is_unloaded() {
                let _ = with_instance(&u.plugin, |inst| inst.destroy(u.handle));
            }
        }
    }
}
