//! The embedded solver: one dedicated thread owning a QuickJS runtime. It loads a player
//! script once per version (prepared by `scan`), finds the signature and `n` functions by
//! behaviour, and answers challenges over a channel. Every evaluation and call runs under a
//! deadline enforced by QuickJS's interrupt handler, and the runtime has a memory cap, so a
//! hostile or broken script costs a bounded slice of one thread and never a decode worker.
//!
//! How the two functions are told apart, whatever the build calls them:
//! - the signature function permutes and trims its input by a rule that depends only on the
//!   input's length: two inputs of one length with all-distinct characters come back as the
//!   same arrangement of positions, using only input characters;
//! - the `n` function maps a 16-character token to a different token of the same alphabet
//!   that is not made of the input's own characters, deterministically, and not to one of
//!   its failure markers (`enhanced_except_…`, `…_w8_<input>`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::channel::{bounded, Receiver, Sender};
use rquickjs::{Context, Function, Object, Runtime};

use super::scan;

/// Memory a loaded script may use (real players need ~40 MB in QuickJS).
const MEMORY_LIMIT: usize = 256 * 1024 * 1024;
/// Player versions kept loaded.
const CACHED_SCRIPTS: usize = 2;
/// One probe call of a candidate function.
const PROBE_CALL: Duration = Duration::from_millis(50);
/// All probing of one script.
const PROBE_TOTAL: Duration = Duration::from_secs(10);

/// Stubs for the browser globals a player script touches at load time: any property of
/// any of them is another stub, any call returns one, so top-level side effects run
/// harmlessly instead of throwing.
const PRELUDE: &str = r#"(function(){
var handler={get:function(t,k){if(k===Symbol.toPrimitive)return function(){return ""};
if(k==="toString"||k==="valueOf")return function(){return ""};if(k==="length")return 0;
if(k in t)return t[k];return stub;},apply:function(){return stub},construct:function(){return stub},
set:function(){return true},has:function(){return true}};
var stub=new Proxy(function(){},handler);
var names=["window","document","navigator","location","XMLHttpRequest","self","top","parent",
"localStorage","sessionStorage","screen","history","performance","addEventListener",
"removeEventListener","setTimeout","setInterval","clearTimeout","clearInterval","fetch",
"Image","HTMLElement","Element","Node","MutationObserver","requestAnimationFrame","console"];
for(var i=0;i<names.length;i++){if(!(names[i] in globalThis))globalThis[names[i]]=stub;}
globalThis.window=globalThis;globalThis.self=globalThis;
})();"#;

/// What a challenge asks.
pub struct Challenge {
    pub script_id: String,
    pub script: Arc<str>,
    pub sig: Option<String>,
    pub n: Option<String>,
}

/// Solved values (None for an input that was not asked).
pub type Solved = (Option<String>, Option<String>);

struct Job {
    challenge: Challenge,
    deadline: Instant,
    reply: Sender<Result<Solved, String>>,
}

/// Handle to the solver thread. Cheap to clone.
#[derive(Clone)]
pub struct Solver {
    tx: Sender<Job>,
    timeout: Duration,
    /// Solve failures (timeouts, scripts it could not read), for metrics.
    failures: Arc<AtomicU64>,
}

impl Solver {
    /// Starts the solver thread. `timeout` bounds each solve, script loading included.
    pub fn start(timeout: Duration) -> Solver {
        let (tx, rx) = bounded::<Job>(64);
        let spawned = std::thread::Builder::new()
            .name("yt-cipher".into())
            .spawn(move || run(rx));
        if let Err(e) = spawned {
            log::error!("cannot start the cipher solver thread: {e}");
        }
        Solver {
            tx,
            timeout,
            failures: Arc::default(),
        }
    }

    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Solves a challenge, waiting at most the configured timeout.
    pub fn solve(&self, challenge: Challenge) -> Result<Solved, String> {
        let (reply, answer) = bounded(1);
        let deadline = Instant::now() + self.timeout;
        let job = Job {
            challenge,
            deadline,
            reply,
        };
        let res = match self.tx.send_timeout(job, self.timeout) {
            Ok(()) => answer
                .recv_timeout(self.timeout + Duration::from_millis(100))
                .unwrap_or_else(|_| Err("the cipher solver timed out".into())),
            Err(_) => Err("the cipher solver is busy".into()),
        };
        if res.is_err() {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        res
    }
}

/// One loaded player version.
struct Loaded {
    // Kept alive for the context.
    _runtime: Runtime,
    context: Context,
    sig: Option<String>,
    n: Option<String>,
}

fn run(rx: Receiver<Job>) {
    let deadline = Arc::new(AtomicU64::new(u64::MAX));
    let epoch = Instant::now();
    let mut loaded: HashMap<String, Loaded> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    for job in rx {
        if Instant::now() >= job.deadline {
            let _ = job.reply.send(Err("the cipher solver timed out".into()));
            continue;
        }
        let id = job.challenge.script_id.clone();
        if !loaded.contains_key(&id) {
            match load(&job.challenge.script, &deadline, epoch, job.deadline) {
                Ok(l) => {
                    if order.len() >= CACHED_SCRIPTS {
                        let old = order.remove(0);
                        loaded.remove(&old);
                    }
                    order.push(id.clone());
                    loaded.insert(id.clone(), l);
                }
                Err(e) => {
                    let _ = job.reply.send(Err(e));
                    continue;
                }
            }
        }
        let Some(l) = loaded.get(&id) else { continue };
        set_deadline(&deadline, epoch, job.deadline);
        let res = answer(l, &job.challenge);
        deadline.store(u64::MAX, Ordering::Relaxed);
        let _ = job.reply.send(res);
    }
}

fn set_deadline(cell: &AtomicU64, epoch: Instant, at: Instant) {
    cell.store(
        at.saturating_duration_since(epoch).as_micros() as u64,
        Ordering::Relaxed,
    );
}

fn load(
    script: &str,
    deadline: &Arc<AtomicU64>,
    epoch: Instant,
    until: Instant,
) -> Result<Loaded, String> {
    let prepared = scan::prepare(script)?;
    let runtime = Runtime::new().map_err(|e| format!("QuickJS: {e}"))?;
    runtime.set_memory_limit(MEMORY_LIMIT);
    runtime.set_max_stack_size(4 * 1024 * 1024);
    let cell = deadline.clone();
    runtime.set_interrupt_handler(Some(Box::new(move || {
        epoch.elapsed().as_micros() as u64 > cell.load(Ordering::Relaxed)
    })));
    let context = Context::full(&runtime).map_err(|e| format!("QuickJS: {e}"))?;
    set_deadline(deadline, epoch, until);
    let evaluated: Result<(), String> = context.with(|ctx| {
        ctx.eval_with_options::<(), _>(PRELUDE, sloppy())
            .map_err(|e| format!("prelude: {e}"))?;
        // The script may still throw at its end; the exports are made in a `finally`.
        let _ = ctx.eval_with_options::<(), _>(prepared.source.as_bytes().to_vec(), sloppy());
        Ok(())
    });
    evaluated?;
    let probe_until = until.min(Instant::now() + PROBE_TOTAL);
    let (sig, n) = context.with(|ctx| -> Result<Solved, String> {
        let fns: Object = ctx
            .globals()
            .get("__basalt_fns")
            .map_err(|_| "the player script did not load".to_string())?;
        // (name, output length): a real signature function also drops characters, so a
        // shorter output beats a plain rearrangement (string-reversing helpers exist).
        let mut sig: Option<(String, usize)> = None;
        let mut n: Option<(String, usize)> = None;
        for name in &prepared.names {
            if Instant::now() >= probe_until {
                break;
            }
            let Ok(f) = fns.get::<_, Function>(name.as_str()) else {
                continue;
            };
            let call = |input: &str| -> Option<String> {
                set_deadline(
                    deadline,
                    epoch,
                    (Instant::now() + PROBE_CALL).min(probe_until),
                );
                f.call::<_, String>((input,)).ok()
            };
            if let Some(len) = signature_output_len(&call) {
                if sig.as_ref().is_none_or(|(_, best)| len < *best) {
                    sig = Some((name.clone(), len));
                }
                continue;
            }
            if looks_like_n(&call) {
                // Several helpers may pass; the `n` function is by far the largest.
                let size = <rquickjs::Coerced<String> as rquickjs::FromJs>::from_js(
                    &ctx,
                    f.clone().into_value(),
                )
                .map_or(0, |s| s.0.len());
                if n.as_ref().is_none_or(|(_, best)| size > *best) {
                    n = Some((name.clone(), size));
                }
            }
        }
        Ok((sig.map(|(name, _)| name), n.map(|(name, _)| name)))
    })?;
    deadline.store(u64::MAX, Ordering::Relaxed);
    if sig.is_none() && n.is_none() {
        return Err("no signature or n function found in the player script".into());
    }
    Ok(Loaded {
        _runtime: runtime,
        context,
        sig,
        n,
    })
}

/// Player scripts are sloppy-mode code (`this` is the global object at top level).
fn sloppy() -> rquickjs::context::EvalOptions {
    let mut o = rquickjs::context::EvalOptions::default();
    o.strict = false;
    o
}

const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Same positions picked for two all-distinct inputs of one length, only input
/// characters: the output length when it behaves like a signature function.
fn signature_output_len(call: &dyn Fn(&str) -> Option<String>) -> Option<usize> {
    let a: String = ALPHABET.chars().collect();
    let b: String = ALPHABET.chars().rev().collect();
    let (oa, ob) = (call(&a)?, call(&b)?);
    if oa == a || oa.len() + 12 < a.len() || oa.len() > a.len() || oa.len() != ob.len() {
        return None;
    }
    let pos_a: Option<Vec<usize>> = oa.chars().map(|c| a.find(c)).collect();
    let pos_b: Option<Vec<usize>> = ob.chars().map(|c| b.find(c)).collect();
    let same = matches!((pos_a, pos_b), (Some(x), Some(y)) if x == y);
    (same && call(&a).as_deref() == Some(oa.as_str())).then_some(oa.len())
}

/// A deterministic token → different token of the same alphabet, not a rearrangement.
fn looks_like_n(call: &dyn Fn(&str) -> Option<String>) -> bool {
    let inputs = ["AbCdEfGhIjKlMnOp", "qRsTuVwXyZ012345"];
    let mut outs = Vec::new();
    for input in inputs {
        let Some(out) = call(input) else { return false };
        let ok_chars = out.chars().all(|c| ALPHABET.contains(c));
        if out == input
            || !ok_chars
            || out.len() < 8
            || out.len() > 64
            || out.starts_with("enhanced_except_")
            || out.ends_with(&format!("_w8_{input}"))
            || is_rearrangement(input, &out)
            || call(input).as_deref() != Some(out.as_str())
        {
            return false;
        }
        outs.push(out);
    }
    outs[0] != outs[1]
}

/// Whether every character of `out` can be taken from `input` (a multiset subset).
fn is_rearrangement(input: &str, out: &str) -> bool {
    let mut counts: HashMap<char, i32> = HashMap::new();
    for c in input.chars() {
        *counts.entry(c).or_default() += 1;
    }
    out.chars().all(|c| {
        let e = counts.entry(c).or_default();
        *e -= 1;
        *e >= 0
    })
}

fn answer(l: &Loaded, c: &Challenge) -> Result<Solved, String> {
    l.context.with(|ctx| {
        let fns: Object = ctx
            .globals()
            .get("__basalt_fns")
            .map_err(|e| format!("QuickJS: {e}"))?;
        let apply = |which: &Option<String>,
                     input: &Option<String>,
                     what: &str|
         -> Result<Option<String>, String> {
            let Some(input) = input else {
                return Ok(None);
            };
            let name = which
                .as_ref()
                .ok_or_else(|| format!("no {what} function in this player script"))?;
            let f: Function = fns
                .get(name.as_str())
                .map_err(|e| format!("QuickJS: {e}"))?;
            let out: String = f
                .call((input.as_str(),))
                .map_err(|e| format!("{what} transform failed: {e}"))?;
            if what == "n"
                && (out == *input
                    || out.starts_with("enhanced_except_")
                    || out.ends_with(&format!("_w8_{input}")))
            {
                return Err("n transform failed".into());
            }
            Ok(Some(out))
        };
        Ok((apply(&l.sig, &c.sig, "signature")?, apply(&l.n, &c.n, "n")?))
    })
}
