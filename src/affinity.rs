//! `[player] cpu_affinity`: pins the audio engine's threads (pacer, decode and encode
//! workers, their I/O helpers) to chosen cores, so that on a shared or NUMA machine the
//! real-time path keeps warm caches and is not moved under load.
//!
//! Threads inherit the affinity of the thread that creates them: `pin_for_engine` sets
//! the list on the calling thread, the engine starts its threads, and the returned guard
//! puts the calling thread's previous set back (so the control plane stays unpinned).

/// Parses `"2-5,8"` into sorted, unique core numbers; `""` is None (no pinning).
pub fn parse(spec: &str) -> Result<Option<Vec<usize>>, String> {
    let spec = spec.trim();
    if spec.is_empty() {
        return Ok(None);
    }
    let max = libc::CPU_SETSIZE as usize;
    let mut cores = Vec::new();
    for part in spec.split(',') {
        let part = part.trim();
        let num = |s: &str| -> Result<usize, String> {
            let n: usize = s
                .trim()
                .parse()
                .map_err(|_| format!("{s:?} is not a core number"))?;
            if n >= max {
                return Err(format!("core {n} is beyond {}", max - 1));
            }
            Ok(n)
        };
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if a > b {
                    return Err(format!("range {part:?} runs backwards"));
                }
                cores.extend(a..=b);
            }
            None => cores.push(num(part)?),
        }
    }
    cores.sort_unstable();
    cores.dedup();
    Ok(Some(cores))
}

/// Puts the calling thread's previous affinity back when dropped.
pub struct Restore {
    previous: Option<libc::cpu_set_t>,
}

impl Drop for Restore {
    fn drop(&mut self) {
        if let Some(set) = self.previous.take() {
            // SAFETY: a valid cpu_set_t read by sched_getaffinity for this thread.
            unsafe {
                libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
            }
        }
    }
}

/// Pins the calling thread to `cores` (threads it starts inherit them) until the guard
/// is dropped. None = nothing to do. Err names the cores the system refused (offline,
/// outside the cgroup's cpuset).
pub fn pin_for_engine(cores: Option<&[usize]>) -> Result<Restore, String> {
    let Some(cores) = cores else {
        return Ok(Restore { previous: None });
    };
    // SAFETY: zeroed cpu_set_t is the empty set; the CPU_* helpers and the affinity
    // calls only read/write these local sets for the calling thread (pid 0).
    unsafe {
        let size = std::mem::size_of::<libc::cpu_set_t>();
        let mut previous: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, size, &mut previous) != 0 {
            return Err(format!(
                "cannot read the CPU affinity: {}",
                std::io::Error::last_os_error()
            ));
        }
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &c in cores {
            libc::CPU_SET(c, &mut set);
        }
        if libc::sched_setaffinity(0, size, &set) != 0 {
            return Err(format!(
                "cannot pin to cores {cores:?}: {}",
                std::io::Error::last_os_error()
            ));
        }
        Ok(Restore {
            previous: Some(previous),
        })
    }
}

/// The calling thread's allowed cores (tests, and the log line at start-up).
pub fn current() -> Vec<usize> {
    // SAFETY: as in `pin_for_engine`.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_and_ranges() {
        assert_eq!(parse("").unwrap(), None);
        assert_eq!(parse(" 2-4, 1,3 ").unwrap(), Some(vec![1, 2, 3, 4]));
        assert!(parse("a").unwrap_err().contains("not a core"));
        assert!(parse("5-2").unwrap_err().contains("backwards"));
        assert!(parse("99999").unwrap_err().contains("beyond"));
    }

    #[test]
    fn pins_threads_started_meanwhile_and_restores() {
        let before = current();
        let first = before[0];
        let guard = pin_for_engine(Some(&[first])).unwrap();
        let child = std::thread::spawn(current).join().unwrap();
        assert_eq!(child, vec![first], "inherited by a new thread");
        drop(guard);
        assert_eq!(current(), before, "restored");
        let later = std::thread::spawn(current).join().unwrap();
        assert_eq!(later, before);
    }
}
