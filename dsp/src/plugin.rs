//! Extension filters for `pluginFilters` (Lavalink plugins' filters). None are built in.
//!
//! A plugin registers a factory under the JSON key it answers to; each chain owns one
//! instance per registered plugin, created when the chain is built (not per frame).

use std::sync::Arc;

use serde_json::Value;

/// One extension filter instance, owned by one player's chain.
pub trait PluginFilter: Send {
    /// Take the plugin's JSON from `pluginFilters.<name>` (`None`: not configured).
    /// Called on update, not per frame. Returns whether the filter is enabled.
    fn configure(&mut self, config: Option<&Value>) -> bool;
    /// Process planar 48 kHz stereo in place. Must not allocate or block.
    fn process(&mut self, left: &mut [f32], right: &mut [f32]);
    /// Seek: drop histories.
    fn reset(&mut self) {}
}

/// A plugin filter factory plus its "is enabled" test (Lavalink asks the plugin).
pub trait PluginFactory: Send + Sync {
    /// The key under `pluginFilters`.
    fn name(&self) -> &str;
    /// Whether this configuration turns the chain on.
    fn is_enabled(&self, config: &Value) -> bool;
    /// A fresh instance for a new chain.
    fn create(&self) -> Box<dyn PluginFilter>;
}

/// The registered plugin filters, in registration order.
#[derive(Clone, Default)]
pub struct PluginRegistry {
    factories: Vec<Arc<dyn PluginFactory>>,
}

impl PluginRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn register(&mut self, f: Arc<dyn PluginFactory>) {
        self.factories.push(f);
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.factories.iter().map(|f| f.name())
    }

    pub fn factories(&self) -> &[Arc<dyn PluginFactory>] {
        &self.factories
    }

    /// Whether any registered plugin is enabled by `plugin_filters` (unknown names ignored).
    pub fn any_enabled(&self, plugin_filters: &serde_json::Map<String, Value>) -> bool {
        self.factories.iter().any(|f| {
            plugin_filters
                .get(f.name())
                .is_some_and(|cfg| f.is_enabled(cfg))
        })
    }
}
