//! Everything a worker and its engine processes write (vLLM logs on stdout and stderr; both go
//! to one pipe), kept three ways: the whole log in a bounded file per model (`--engine-log`), a
//! short tail for error messages, and the lines that explain a failure — each process's ERROR
//! lines and the last exception of each traceback, with vLLM's `(EngineCore pid=…)` prefix — so
//! that a failure inside the engine-core process ("Engine core initialization failed. See root
//! cause above") keeps its root cause.
//!
//! The pipe is always drained (bytes that are not UTF-8 are kept lossily): an engine blocked on a
//! full pipe would look like a wedged one.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::path::PathBuf;

/// The file keeps the first `FILE_HEAD_BYTES` of a log, then the last `FILE_TAIL_LINES` lines
/// with a note of how much was left out between them.
pub const FILE_HEAD_BYTES: u64 = 32 << 20;
pub const FILE_TAIL_LINES: usize = 5_000;
/// At most this many explaining lines are kept, each cut to `LINE_MAX` characters.
const CAUSES_MAX: usize = 24;
const LINE_MAX: usize = 600;
const TAIL_KEEP: usize = 60;

#[derive(Default)]
struct Source {
    in_traceback: bool,
}

pub struct EngineLog {
    /// Where the log goes; the file (and its directory) is made with the first line.
    path: Option<PathBuf>,
    file: Option<(PathBuf, std::io::BufWriter<std::fs::File>)>,
    written: u64,
    skipped_lines: u64,
    /// Lines past the file's head, the last `FILE_TAIL_LINES` of them.
    file_tail: VecDeque<String>,
    tail: VecDeque<String>,
    sources: HashMap<String, Source>,
    causes: Vec<String>,
}

impl EngineLog {
    /// A log that also goes to `path` (made with the first line; a failure to make it is noted
    /// once in the log's causes and the log is kept in memory only).
    pub fn new(path: Option<PathBuf>) -> EngineLog {
        EngineLog {
            path,
            file: None,
            written: 0,
            skipped_lines: 0,
            file_tail: VecDeque::new(),
            tail: VecDeque::new(),
            sources: HashMap::new(),
            causes: Vec::new(),
        }
    }

    fn open(&mut self) {
        let Some(p) = self.path.take() else { return };
        if let Some(d) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(d);
        }
        match std::fs::File::create(&p) {
            Ok(f) => self.file = Some((p, std::io::BufWriter::new(f))),
            Err(e) => self.causes.push(format!(
                "(llmbench) cannot write the engine log {}: {e}",
                p.display()
            )),
        }
    }

    pub fn path(&self) -> Option<&PathBuf> {
        self.file.as_ref().map(|f| &f.0)
    }

    pub fn push(&mut self, line: String) {
        self.to_file(&line);
        self.explain(&line);
        if self.tail.len() == TAIL_KEEP {
            self.tail.pop_front();
        }
        self.tail.push_back(line);
    }

    fn to_file(&mut self, line: &str) {
        self.open();
        let Some((_, f)) = self.file.as_mut() else {
            return;
        };
        if self.written < FILE_HEAD_BYTES {
            self.written += line.len() as u64 + 1;
            let _ = writeln!(f, "{line}");
            return;
        }
        self.skipped_lines += 1;
        if self.file_tail.len() == FILE_TAIL_LINES {
            self.file_tail.pop_front();
        }
        self.file_tail.push_back(line.to_string());
    }

    /// Writes out what the file holds back (the tail past its head) and flushes it.
    pub fn finish(&mut self) {
        let Some((_, f)) = self.file.as_mut() else {
            return;
        };
        let left_out = self
            .skipped_lines
            .saturating_sub(self.file_tail.len() as u64);
        if left_out > 0 {
            let _ = writeln!(
                f,
                "[llmbench: {left_out} lines left out here: this file keeps the first {} MiB and the last {FILE_TAIL_LINES} lines of the engine's output]",
                FILE_HEAD_BYTES >> 20
            );
        }
        for l in self.file_tail.drain(..) {
            let _ = writeln!(f, "{l}");
        }
        self.skipped_lines = 0;
        let _ = f.flush();
    }

    /// The last `n` lines, for error messages.
    pub fn last(&self, n: usize) -> String {
        let skip = self.tail.len().saturating_sub(n);
        let v: Vec<&str> = self.tail.iter().skip(skip).map(String::as_str).collect();
        v.join("\n")
    }

    /// The lines that explain a failure, in the order they came.
    pub fn causes(&self) -> &[String] {
        &self.causes
    }

    fn explain(&mut self, line: &str) {
        let (source, rest) = split_source(line);
        let (level, msg) = split_level(rest);
        let st = self.sources.entry(source.to_string()).or_default();
        if msg.starts_with("Traceback (most recent call last)") {
            st.in_traceback = true;
            return;
        }
        let continued = msg.starts_with(' ') || msg.starts_with('\t') || msg.is_empty();
        let cause = if st.in_traceback && !continued {
            // The exception that ends a traceback (a chained one starts another traceback).
            st.in_traceback = msg.starts_with("During handling") || msg.starts_with("The above");
            !st.in_traceback
        } else {
            !st.in_traceback && matches!(level, Some("ERROR" | "CRITICAL")) && !continued
        };
        if cause {
            self.add_cause(source, msg);
        }
    }

    fn add_cause(&mut self, source: &str, msg: &str) {
        let mut text: String = msg.chars().take(LINE_MAX).collect();
        if !source.is_empty() {
            text = format!("({source}) {text}");
        }
        // The same exception is often printed twice: by the process's logger with its prefix,
        // and by multiprocessing's bootstrap without one.
        if self
            .causes
            .iter()
            .any(|c| strip_source(c) == msg || c == &text)
        {
            return;
        }
        if self.causes.len() == CAUSES_MAX {
            self.causes.remove(0);
        }
        self.causes.push(text);
    }
}

fn strip_source(line: &str) -> &str {
    split_source(line).1
}

/// `(EngineCore pid=123) rest` → ("EngineCore pid=123", "rest"); no prefix → ("", line).
fn split_source(line: &str) -> (&str, &str) {
    if let Some(rest) = line.strip_prefix('(') {
        if let Some(close) = rest.find(") ") {
            let inner = &rest[..close];
            if inner.contains(" pid=") && !inner.contains('(') {
                return (inner, &rest[close + 2..]);
            }
        }
    }
    ("", line)
}

/// vLLM's `ERROR 12-02 02:15:16 [core.py:1510] msg` → (Some("ERROR"), "msg").
fn split_level(s: &str) -> (Option<&str>, &str) {
    const LEVELS: [&str; 5] = ["ERROR", "CRITICAL", "WARNING", "INFO", "DEBUG"];
    for lv in LEVELS {
        if let Some(rest) = s.strip_prefix(lv).and_then(|r| r.strip_prefix(' ')) {
            if let Some(close) = rest.find("] ") {
                if rest[..close].contains(" [") {
                    return (Some(lv), &rest[close + 2..]);
                }
            }
        }
    }
    (None, s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(lines: &[&str]) -> EngineLog {
        let mut l = EngineLog::new(None);
        for x in lines {
            l.push(x.to_string());
        }
        l
    }

    #[test]
    fn keeps_each_processes_errors_and_the_exception_ending_its_traceback() {
        let p = "(EngineCore pid=27187) ERROR 12-02 02:15:16 [core.py:1510] ";
        let l = feed(&[
            "(EngineCore pid=27187) INFO 12-02 02:15:16 [core.py:133] Initializing a V1 LLM engine",
            &format!("{p}EngineCore failed to start."),
            &format!("{p}Traceback (most recent call last):"),
            &format!("{p}  File \"core.py\", line 1482, in run_engine_core"),
            &format!("{p}    engine_core = EngineCoreProc(*args)"),
            &format!("{p}AssertionError: Not enough allowed NUMA nodes to bind threads of 2 local CPUWorkers."),
            "Process EngineCore:",
            "Traceback (most recent call last):",
            "  File \"process.py\", line 314, in _bootstrap",
            "AssertionError: Not enough allowed NUMA nodes to bind threads of 2 local CPUWorkers.",
            "RuntimeError: Engine core initialization failed. See root cause above. Failed core proc(s): {}",
        ]);
        assert_eq!(
            l.causes(),
            [
                "(EngineCore pid=27187) EngineCore failed to start.",
                // The same exception again, from multiprocessing's bootstrap without the prefix, is
                // not repeated.
                "(EngineCore pid=27187) AssertionError: Not enough allowed NUMA nodes to bind threads of 2 local CPUWorkers.",
            ]
        );
    }

    #[test]
    fn a_chained_traceback_keeps_each_exception() {
        let l = feed(&[
            "(Worker pid=9) Traceback (most recent call last):",
            "(Worker pid=9)   File \"x.py\", line 1, in f",
            "(Worker pid=9) safetensors_rust.SafetensorError: Error while deserializing header: HeaderTooLarge",
            "(Worker pid=9) ",
            "(Worker pid=9) During handling of the above exception, another exception occurred:",
            "(Worker pid=9) ",
            "(Worker pid=9) Traceback (most recent call last):",
            "(Worker pid=9)   File \"y.py\", line 2, in g",
            "(Worker pid=9) RuntimeError: loading failed",
            "INFO 12-02 02:15:16 [x.py:1] fine",
        ]);
        assert_eq!(
            l.causes(),
            [
                "(Worker pid=9) safetensors_rust.SafetensorError: Error while deserializing header: HeaderTooLarge",
                "(Worker pid=9) RuntimeError: loading failed",
            ]
        );
    }

    #[test]
    fn the_file_keeps_its_head_and_tail_and_says_what_it_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.log");
        let mut l = EngineLog::new(Some(p.clone()));
        let big = "x".repeat(1 << 20);
        for i in 0..(FILE_HEAD_BYTES >> 20) + 10 {
            l.push(format!("{i} {big}"));
        }
        for i in 0..FILE_TAIL_LINES + 3 {
            l.push(format!("tail {i}"));
        }
        l.finish();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.starts_with("0 x"));
        assert!(text.contains("lines left out here"));
        assert!(text.ends_with(&format!("tail {}\n", FILE_TAIL_LINES + 2)));
        assert!(!text.contains("\ntail 0\n"));
        assert!(text.len() < (FILE_HEAD_BYTES + (2 << 20)) as usize);
    }
}
