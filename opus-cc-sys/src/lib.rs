//! libopus ≥ 1.5, compiled from C with the `cc` crate and linked statically.
//!
//! `opus2` reaches libopus through `libopus_sys`, whose only bundled build uses cmake.
//! This crate compiles the same sources (those `libopus_sys` ships in its crate
//! package) with nothing but a C compiler and puts `libopus.a` on the link path, where
//! `libopus_sys`'s plain `-lopus` finds it. Basalt names this crate once so that the
//! archive is always part of the link.

extern "C" {
    fn opus_get_version_string() -> *const core::ffi::c_char;
}

/// The linked libopus's version string (e.g. `libopus 1.5`).
pub fn version() -> &'static str {
    // SAFETY: libopus returns a pointer to a static, NUL-terminated ASCII string.
    let s = unsafe { core::ffi::CStr::from_ptr(opus_get_version_string()) };
    s.to_str().unwrap_or("libopus")
}

#[cfg(test)]
mod tests {
    #[test]
    fn linked_version_is_1_5_or_newer() {
        let v = super::version();
        let rest = v.strip_prefix("libopus ").expect(v);
        let mut parts = rest.split(|c: char| !c.is_ascii_digit());
        let major: u32 = parts.next().unwrap().parse().unwrap();
        let minor: u32 = parts.next().unwrap().parse().unwrap();
        assert!((major, minor) >= (1, 5), "{v}");
    }
}
