//! GPU memory between models: read before the first model (the baseline) and after each worker
//! is gone, and wait (bounded) until it is back, so the next model starts on a clean device.
//!
//! Read through `nvidia-smi --query-gpu` (present wherever the NVIDIA driver is); the command can
//! be replaced with `LLMBENCH_NVIDIA_SMI` (tests use a fake). No NVIDIA GPU: `probe()` is None
//! and the report says so.

use serde::Serialize;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Probe {
    cmd: PathBuf,
}

/// Memory of one GPU from nvidia-smi.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct GpuMemory {
    /// GPU index.
    pub index: u32,
    /// Used memory, MiB.
    pub used_mib: u64,
    /// Total memory, MiB.
    pub total_mib: u64,
}

/// The outcome of waiting for memory to return to the baseline after a teardown.
#[derive(Debug, Clone, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Wait {
    /// Baseline used memory per GPU, MiB.
    pub baseline_mib: Vec<u64>,
    /// Used memory right after teardown, MiB.
    pub after_teardown_mib: Vec<u64>,
    /// Used memory when the wait ended, MiB.
    pub final_mib: Vec<u64>,
    /// Whether memory came back within 64 MiB (`TOLERANCE_MIB`) of the baseline.
    pub returned: bool,
    /// Seconds waited.
    pub waited_s: f64,
    /// nvidia-smi polls.
    pub polls: u32,
}

/// Memory counted as "back to baseline" within this slack (driver bookkeeping varies a little).
pub const TOLERANCE_MIB: u64 = 64;

pub fn probe() -> Option<Probe> {
    let cmd = std::env::var_os("LLMBENCH_NVIDIA_SMI")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("nvidia-smi"));
    let p = Probe { cmd };
    let r = p.read().ok()?;
    (!r.is_empty()).then_some(p)
}

impl Probe {
    pub fn read(&self) -> Result<Vec<GpuMemory>, String> {
        let out = std::process::Command::new(&self.cmd)
            .args([
                "--query-gpu=index,memory.used,memory.total",
                "--format=csv,noheader,nounits",
            ])
            .output()
            .map_err(|e| format!("{}: {e}", self.cmd.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{} failed: {}",
                self.cmd.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        parse(&String::from_utf8_lossy(&out.stdout))
    }

    /// Polls until every GPU is within `TOLERANCE_MIB` of its baseline, or `limit` passes.
    pub fn wait_for_baseline(&self, baseline: &[GpuMemory], limit: Duration) -> Wait {
        let start = Instant::now();
        let used = |v: &[GpuMemory]| v.iter().map(|g| g.used_mib).collect::<Vec<_>>();
        let base = used(baseline);
        let first = self.read().map(|v| used(&v)).unwrap_or_default();
        let mut last = first.clone();
        let mut polls = 1;
        let back = |now: &[u64]| {
            now.len() == base.len() && now.iter().zip(&base).all(|(n, b)| *n <= b + TOLERANCE_MIB)
        };
        while !back(&last) && start.elapsed() < limit {
            std::thread::sleep(Duration::from_millis(250));
            last = self.read().map(|v| used(&v)).unwrap_or_default();
            polls += 1;
        }
        Wait {
            baseline_mib: base.clone(),
            after_teardown_mib: first,
            returned: back(&last),
            final_mib: last,
            waited_s: start.elapsed().as_secs_f64(),
            polls,
        }
    }
}

pub fn parse(s: &str) -> Result<Vec<GpuMemory>, String> {
    s.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').map(str::trim).collect();
            let num = |i: usize| {
                f.get(i)
                    .and_then(|x| x.parse::<u64>().ok())
                    .ok_or_else(|| format!("unexpected nvidia-smi line: {l}"))
            };
            Ok(GpuMemory {
                index: num(0)? as u32,
                used_mib: num(1)?,
                total_mib: num(2)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nvidia_smi_csv() {
        let g = parse("0, 1234, 81559\n1, 5, 81559\n").unwrap();
        assert_eq!(
            g[0],
            GpuMemory {
                index: 0,
                used_mib: 1234,
                total_mib: 81559
            }
        );
        assert_eq!(g.len(), 2);
        assert!(parse("0, [N/A], 81559").is_err());
    }

    #[test]
    fn waits_until_memory_is_back() {
        // A fake nvidia-smi that reports 9000, 5000, 2000, then 1010 MiB used on later calls.
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("n");
        let script = dir.path().join("nvidia-smi");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nn=$(cat {s} 2>/dev/null || echo 0); echo $((n+1)) > {s}\ncase $n in 0) u=9000;; 1) u=5000;; 2) u=2000;; *) u=1010;; esac\necho \"0, $u, 81559\"\n",
                s = state.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let p = Probe { cmd: script };
        let base = vec![GpuMemory {
            index: 0,
            used_mib: 1000,
            total_mib: 81559,
        }];
        let w = p.wait_for_baseline(&base, Duration::from_secs(10));
        assert!(w.returned);
        assert_eq!(w.after_teardown_mib, vec![9000]);
        assert_eq!(w.final_mib, vec![1010]);
        assert_eq!(w.polls, 4);
        let w = p.wait_for_baseline(
            &[GpuMemory {
                index: 0,
                used_mib: 0,
                total_mib: 1,
            }],
            Duration::from_millis(300),
        );
        assert!(!w.returned, "1010 MiB is not within tolerance of 0");
    }
}
