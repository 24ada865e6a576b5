//! A one-line progress bar on stderr (redrawn in place on a terminal; on a pipe or log, one
//! line per stage so logs stay readable).

use std::io::Write;
use std::time::Instant;

pub struct Progress {
    tty: bool,
    stage: String,
    started: Instant,
    last_plain: String,
}

const WIDTH: usize = 24;

impl Progress {
    pub fn new() -> Progress {
        Progress {
            // SAFETY: isatty only inspects the descriptor.
            tty: unsafe { libc::isatty(2) } == 1,
            stage: String::new(),
            started: Instant::now(),
            last_plain: String::new(),
        }
    }

    pub fn set_stage(&mut self, stage: &str) {
        self.stage = stage.to_string();
    }

    /// Shows `frac` (0..=1) of the current step with a short note.
    pub fn show(&mut self, frac: f64, note: &str) {
        let frac = frac.clamp(0.0, 1.0);
        let filled = (frac * WIDTH as f64).round() as usize;
        let bar: String = "#".repeat(filled) + &"-".repeat(WIDTH - filled);
        let elapsed = self.started.elapsed().as_secs();
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(
                err,
                "\r\x1b[2K[{:>3}:{:02}] {} [{bar}] {note}",
                elapsed / 60,
                elapsed % 60,
                self.stage
            );
            let _ = err.flush();
        } else {
            // Without a terminal, print a line only when the step (not its counter) changes.
            let (head, tail) = note.split_once(':').unwrap_or((note, ""));
            let words: String = tail
                .chars()
                .filter(|c| !c.is_ascii_digit() && !"/.".contains(*c))
                .collect();
            let key = format!("{}|{head}|{words}", self.stage);
            if key != self.last_plain {
                let _ = writeln!(
                    err,
                    "[{:>3}:{:02}] {} {note}",
                    elapsed / 60,
                    elapsed % 60,
                    self.stage
                );
                self.last_plain = key;
            }
        }
    }

    /// Ends the bar's line.
    pub fn finish(&mut self) {
        if self.tty {
            let _ = writeln!(std::io::stderr());
        }
    }
}
