//! Compiles libopus with `cc` (no cmake) into `$OUT_DIR/libopus.a`.
//!
//! The C sources are the ones the `libopus_sys` crate package ships under `opus/`; this
//! script finds that package where cargo unpacked it (or `OPUS_SOURCE_DIR`), reads the
//! file lists from libopus's own `*_sources.mk`, and compiles them with the settings
//! libopus's cmake build uses on the same target: float API, variable-length arrays,
//! hardening, and on x86-64 SSE/SSE2 presumed with SSE4.1/AVX2 kernels picked at run
//! time (RTCD). Other targets get the portable C code.

use std::path::{Path, PathBuf};

/// libopus's release line of the shipped sources (`opus_get_version_string`).
const OPUS_VERSION: &str = "1.5";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=OPUS_SOURCE_DIR");
    let src = opus_source_dir();
    println!("cargo:rerun-if-changed={}", src.display());
    let defines = std::fs::read_to_string(src.join("include/opus_defines.h"))
        .unwrap_or_else(|e| panic!("{}: {e}", src.join("include/opus_defines.h").display()));
    // OPUS_SET_DNN_BLOB arrived in 1.5: older sources would silently change the codec.
    assert!(
        defines.contains("OPUS_SET_DNN_BLOB_REQUEST"),
        "{}: libopus older than 1.5",
        src.display()
    );

    let list = |mk: &str, var: &str| -> Vec<PathBuf> {
        make_list(&src.join(mk), var)
            .into_iter()
            .map(|f| src.join(f))
            .collect()
    };
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let x86 = arch == "x86_64" || arch == "x86";

    let base = || {
        let mut b = cc::Build::new();
        b.opt_level(3)
            .debug(false)
            .warnings(false)
            .flag_if_supported("-std=gnu99")
            .flag_if_supported("-fstack-protector-strong")
            .include(src.join("include"))
            .include(&src)
            .include(src.join("celt"))
            .include(src.join("silk"))
            .include(src.join("silk/float"))
            .include(src.join("dnn"))
            .define("OPUS_BUILD", None)
            .define(
                "PACKAGE_VERSION",
                Some(format!("\"{OPUS_VERSION}\"").as_str()),
            )
            .define("VAR_ARRAYS", None)
            .define("HAVE_LRINT", None)
            .define("HAVE_LRINTF", None)
            .define("ENABLE_HARDENING", None)
            .define("DISABLE_DEBUG_FLOAT", None)
            .define("NDEBUG", None);
        if x86 {
            b.define("OPUS_HAVE_RTCD", None)
                .define("CPU_INFO_BY_ASM", None)
                .define("OPUS_X86_MAY_HAVE_SSE", None)
                .define("OPUS_X86_MAY_HAVE_SSE2", None)
                .define("OPUS_X86_MAY_HAVE_SSE4_1", None)
                .define("OPUS_X86_MAY_HAVE_AVX2", None)
                .define("OPUS_X86_PRESUME_SSE", None)
                .define("OPUS_X86_PRESUME_SSE2", None)
                .flag("-msse")
                .flag("-msse2");
        }
        b
    };

    let mut main = base();
    for (mk, var) in [
        ("opus_sources.mk", "OPUS_SOURCES"),
        ("opus_sources.mk", "OPUS_SOURCES_FLOAT"),
        ("silk_sources.mk", "SILK_SOURCES"),
        ("silk_sources.mk", "SILK_SOURCES_FLOAT"),
        ("celt_sources.mk", "CELT_SOURCES"),
    ] {
        main.files(list(mk, var));
    }
    if x86 {
        for (mk, var) in [
            ("celt_sources.mk", "CELT_SOURCES_X86_RTCD"),
            ("silk_sources.mk", "SILK_SOURCES_X86_RTCD"),
            ("celt_sources.mk", "CELT_SOURCES_SSE"),
            ("celt_sources.mk", "CELT_SOURCES_SSE2"),
        ] {
            main.files(list(mk, var));
        }
        // Kernels for newer instruction sets: compiled with their flags, called only
        // when the CPU has them. Their objects join the one archive.
        let mut sse41 = base();
        sse41.flag("-msse4.1");
        sse41.files(list("celt_sources.mk", "CELT_SOURCES_SSE4_1"));
        sse41.files(list("silk_sources.mk", "SILK_SOURCES_SSE4_1"));
        main.objects(sse41.compile_intermediates());
        let mut avx2 = base();
        avx2.flag("-mavx").flag("-mavx2").flag("-mfma");
        avx2.files(list("celt_sources.mk", "CELT_SOURCES_AVX2"));
        avx2.files(list("silk_sources.mk", "SILK_SOURCES_AVX2"));
        avx2.files(list("silk_sources.mk", "SILK_SOURCES_FLOAT_AVX2"));
        main.objects(avx2.compile_intermediates());
    }
    main.compile("opus");
    if std::env::var("CARGO_CFG_TARGET_FAMILY").as_deref() == Ok("unix") {
        println!("cargo:rustc-link-lib=m");
    }
}

/// `libopus_sys`'s crate package directory name; Cargo.toml pins the same version.
const LIBOPUS_SYS_PACKAGE: &str = "libopus_sys-0.3.3";

/// Where libopus's sources are: `OPUS_SOURCE_DIR`, else `opus/` in the `libopus_sys`
/// package this crate depends on, which cargo has unpacked under
/// `$CARGO_HOME/registry/src/<index>/` before any build script runs (or in a
/// `vendor/` directory next to the workspace, for vendored builds).
fn opus_source_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("OPUS_SOURCE_DIR") {
        return PathBuf::from(dir);
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")));
    let mut candidates = Vec::new();
    if let Some(home) = cargo_home {
        let registries = std::fs::read_dir(home.join("registry/src"))
            .into_iter()
            .flatten();
        for index in registries.flatten() {
            candidates.push(index.path().join(LIBOPUS_SYS_PACKAGE).join("opus"));
        }
    }
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    for dir in manifest.ancestors() {
        candidates.push(dir.join("vendor/libopus_sys/opus"));
    }
    candidates
        .into_iter()
        .find(|d| d.join("opus_sources.mk").is_file())
        .unwrap_or_else(|| {
            panic!(
                "libopus sources ({LIBOPUS_SYS_PACKAGE}/opus) not found under $CARGO_HOME/registry/src \
                 or vendor/; set OPUS_SOURCE_DIR to libopus's source directory"
            )
        })
}

/// The file names assigned to `var` in a libopus `*.mk` list (`VAR = \ a.c \ b.c`).
fn make_list(mk: &Path, var: &str) -> Vec<String> {
    let text = std::fs::read_to_string(mk).unwrap_or_else(|e| panic!("{}: {e}", mk.display()));
    let mut files = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if !inside {
            let Some((name, rest)) = line.split_once('=') else {
                continue;
            };
            if name.trim() != var {
                continue;
            }
            inside = true;
            files.extend(
                rest.split_whitespace()
                    .filter(|w| *w != "\\")
                    .map(String::from),
            );
            if !line.ends_with('\\') {
                break;
            }
            continue;
        }
        files.extend(
            line.split_whitespace()
                .filter(|w| *w != "\\")
                .map(String::from),
        );
        if !line.ends_with('\\') {
            break;
        }
    }
    assert!(!files.is_empty(), "{}: no {var}", mk.display());
    files
}
