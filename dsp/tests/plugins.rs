//! Extension filters: registry, enable test, configuration, position in the chain.

use std::sync::Arc;

use basalt_dsp::{
    ChainWork, FilterChain, Filters, PluginFactory, PluginFilter, PluginRegistry, FRAME,
};
use serde_json::{json, Value};

struct Gain(f32);

impl PluginFilter for Gain {
    fn configure(&mut self, config: Option<&Value>) -> bool {
        self.0 = config
            .and_then(|c| c.get("gain"))
            .and_then(Value::as_f64)
            .unwrap_or(1.0) as f32;
        self.0 != 1.0
    }
    fn process(&mut self, left: &mut [f32], right: &mut [f32]) {
        for v in left.iter_mut().chain(right.iter_mut()) {
            *v *= self.0;
        }
    }
}

struct GainFactory;

impl PluginFactory for GainFactory {
    fn name(&self) -> &str {
        "gain"
    }
    fn is_enabled(&self, config: &Value) -> bool {
        config
            .get("gain")
            .and_then(Value::as_f64)
            .is_some_and(|g| g != 1.0)
    }
    fn create(&self) -> Box<dyn PluginFilter> {
        Box::new(Gain(1.0))
    }
}

fn registry() -> PluginRegistry {
    let mut r = PluginRegistry::new();
    r.register(Arc::new(GainFactory));
    r
}

#[test]
fn plugin_turns_chain_on_and_processes_first() {
    let reg = registry();
    let f = Filters::from_json(&json!({"pluginFilters": {"gain": {"gain": 0.5}, "other": {}}}))
        .unwrap();
    assert!(!f.is_active());
    assert!(f.is_active_with(&reg));
    let mut c = FilterChain::with_plugins(&reg);
    c.update(&f);
    assert!(c.is_active());
    let input = vec![0.8f32; FRAME * 2];
    let mut out = vec![0.0f32; FRAME * 2];
    let mut work = ChainWork::new();
    c.process(&input, &mut out, &mut work);
    assert!(out.iter().all(|&v| v == 0.4));

    // Before channelMix's clamp: 0.8·4 would clip, 0.8·0.5·2 = 0.8 does not.
    let f = Filters::from_json(&json!({
        "pluginFilters": {"gain": {"gain": 0.5}},
        "channelMix": {"leftToLeft": 2.0, "rightToRight": 2.0}
    }))
    .unwrap();
    c.update(&f);
    for _ in 0..3 {
        c.process(&input, &mut out, &mut work);
    }
    assert!(out.iter().all(|&v| (v - 0.8).abs() < 1e-6), "{}", out[0]);

    // Removing it: the chain turns off.
    c.update(&Filters::default());
    for _ in 0..3 {
        c.process(&input, &mut out, &mut work);
    }
    assert!(!c.is_active());
    assert!(out.iter().all(|&v| v == 0.8));
}

#[test]
fn unregistered_names_are_ignored() {
    let f = Filters::from_json(&json!({"pluginFilters": {"gain": {"gain": 0.5}}})).unwrap();
    let mut c = FilterChain::new();
    c.update(&f);
    assert!(!c.is_active());
    assert_eq!(registry().names().collect::<Vec<_>>(), ["gain"]);
}

#[test]
fn chain_is_send() {
    fn assert_send<T: Send>() {}
    assert_send::<FilterChain>();
    assert_send::<basalt_dsp::PlayerVolume>();
}
