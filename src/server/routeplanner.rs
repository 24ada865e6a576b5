//! The route planner behind `/v4/routeplanner/*` (lavalink-v4.md §9). It lives with the
//! outbound HTTP client that binds to its addresses (`crate::net::routeplanner`); the REST
//! routes read its status and clear its failing marks.

pub use crate::net::routeplanner::RoutePlanner;
