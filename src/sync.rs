//! Small synchronisation helpers shared by the control plane.

use std::sync::{Mutex, MutexGuard};

/// Lock a mutex even if a panicking thread poisoned it: the data is plain state, and one
/// panicked request must not make every later one fail.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
