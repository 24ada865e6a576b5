//! `heap_trim::trim` gives freed heap pages below live blocks back to the OS (glibc keeps
//! them resident otherwise). Its own test binary: RSS is process-wide.

#![cfg(all(target_os = "linux", target_env = "gnu"))]

fn rss_anon_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").expect("status");
    s.lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("RssAnon")
}

#[test]
fn freed_blocks_below_live_ones_leave_rss_after_a_trim() {
    // 16 MiB of 64 KiB blocks (under glibc's mmap threshold, so on the heap), each
    // followed by a small block that stays: the big ones cannot merge into the heap top.
    let mut big = Vec::new();
    let mut keep = Vec::new();
    for i in 0..256u32 {
        let mut b = vec![0u8; 64 * 1024];
        b.iter_mut().step_by(4096).for_each(|x| *x = i as u8 | 1);
        big.push(b);
        keep.push(vec![i as u8; 64]);
    }
    drop(big);
    let free = basalt::heap_trim::free_bytes();
    assert!(
        free >= 15 << 20,
        "the allocator holds what was freed: {free}"
    );
    let before = rss_anon_kib();
    basalt::heap_trim::trim();
    let after = rss_anon_kib();
    assert!(
        before.saturating_sub(after) >= 12 * 1024,
        "RssAnon {before} KiB -> {after} KiB"
    );
    assert_eq!(keep.len(), 256);
}
