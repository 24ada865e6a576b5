//! The shared-secret check of spec §2.

/// Outcome of checking `Authorization` against the configured password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    Ok,
    /// Header missing: REST 401.
    Missing,
    /// Header present but different: REST 403.
    Wrong,
}

/// Exact string comparison, as Lavalink does (no scheme, no trimming).
pub fn check(header: Option<&str>, password: &str) -> Auth {
    match header {
        None => Auth::Missing,
        Some(h) if constant_time_eq(h.as_bytes(), password.as_bytes()) => Auth::Ok,
        Some(_) => Auth::Wrong,
    }
}

/// Compare without an early exit so timing does not reveal the matching prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes() {
        assert_eq!(check(None, "pw"), Auth::Missing);
        assert_eq!(check(Some("pw"), "pw"), Auth::Ok);
        assert_eq!(check(Some("Bearer pw"), "pw"), Auth::Wrong);
        assert_eq!(check(Some(""), "pw"), Auth::Wrong);
    }
}
