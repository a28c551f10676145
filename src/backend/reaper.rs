//! Finding and ending everything a worker started.
//!
//! llmbench makes itself a child subreaper, so a descendant that leaves its process group or
//! session (`setsid`, as Ray and some executors do) is reparented to llmbench rather than to PID 1
//! when its parent dies: it stays visible here and is reaped here. After a worker's process group
//! has been killed, `sweep` kills and reaps whatever is still parented to llmbench.

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use std::collections::HashSet;
use std::time::{Duration, Instant};

pub fn become_subreaper() {
    let _ = nix::sys::prctl::set_child_subreaper(true);
}

/// SIGKILL to one process (ESRCH, already gone, is fine).
fn sigkill(pid: i32) {
    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
}

/// Every pid visible in /proc.
fn pids() -> impl Iterator<Item = i32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
}

/// (pid, ppid, state) of every process visible in /proc.
pub fn processes() -> Vec<(i32, i32, char)> {
    pids()
        .filter_map(|pid| stat_of(pid).map(|s| (pid, s.ppid, s.state)))
        .collect()
}

/// The fields of /proc/PID/stat that llmbench reads.
struct Stat {
    ppid: i32,
    state: char,
    pgrp: i32,
    /// utime + stime, clock ticks.
    cpu_ticks: u64,
}

/// Parses /proc/PID/stat (the command name may hold spaces and parens).
fn stat_of(pid: i32) -> Option<Stat> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let f: Vec<&str> = s[s.rfind(')')? + 2..].split_whitespace().collect();
    // After the command name: state [0], ppid [1], pgrp [2], ... utime [11], stime [12].
    let num = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok());
    Some(Stat {
        state: f.first()?.chars().next()?,
        ppid: f.get(1)?.parse().ok()?,
        pgrp: f.get(2)?.parse().ok()?,
        cpu_ticks: num(11).unwrap_or(0) + num(12).unwrap_or(0),
    })
}

/// utime + stime of a process, seconds (0 when it is gone).
pub fn cpu_seconds(pid: i32) -> f64 {
    let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100)
        .max(1);
    stat_of(pid).map_or(0.0, |s| s.cpu_ticks as f64 / ticks as f64)
}

/// The command name of a process (`/proc/PID/comm`, at most 15 bytes; vLLM names its processes
/// `VLLM::EngineCore`, `VLLM::Worker…`).
pub fn comm(pid: i32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim_end().to_string())
}

/// Context switches (voluntary + involuntary) of every thread of a process so far (0 when it is
/// gone): `/proc/PID/task/*/status`.
pub fn context_switches(pid: i32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
        .map(|s| {
            s.lines()
                .filter(|l| {
                    l.starts_with("voluntary_ctxt_switches:")
                        || l.starts_with("nonvoluntary_ctxt_switches:")
                })
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>()
        })
        .sum()
}

/// The CPUs a process may run on (`Cpus_allowed_list` of /proc/PID/status, e.g. "0-1"); None
/// when it is gone.
pub fn allowed_cpus(pid: i32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(|v| v.trim().to_string())
}

/// A kernel CPU list ("0-2,5") as CPU numbers; None when it is not one.
pub fn parse_cpu_list(s: &str) -> Option<Vec<usize>> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b) = (
            a.trim().parse::<usize>().ok()?,
            b.trim().parse::<usize>().ok()?,
        );
        if b < a {
            return None;
        }
        out.extend(a..=b);
    }
    (!out.is_empty()).then_some(out)
}

/// The supervisor's CPUs before any placement, to return to when a later engine binds none.
static ORIGINAL_CPUS: std::sync::OnceLock<Option<nix::sched::CpuSet>> = std::sync::OnceLock::new();

/// Moves every thread of the supervisor (and so the threads it starts later) to `cpus` — the
/// CPUs the worker left to llmbench off the ones the engine binds (`llmbench_cpus` of its ready
/// message) — or back to the CPUs it started with when None. Returns whether it is now placed.
pub fn place_supervisor(cpus: Option<&str>) -> bool {
    use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
    use nix::unistd::Pid;
    let original = ORIGINAL_CPUS.get_or_init(|| sched_getaffinity(Pid::from_raw(0)).ok());
    let target = match cpus.and_then(parse_cpu_list) {
        Some(list) => {
            let mut set = CpuSet::new();
            for c in list {
                if set.set(c).is_err() {
                    return false;
                }
            }
            set
        }
        None => match original {
            Some(set) => *set,
            None => return false,
        },
    };
    let tids: Vec<i32> = std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_else(|_| vec![0]);
    let mut moved = false;
    for tid in tids {
        moved |= sched_setaffinity(Pid::from_raw(tid), &target).is_ok();
    }
    moved && cpus.is_some()
}

/// Peak resident memory (VmHWM) of a process, MiB (0 when it is gone).
pub fn peak_rss_mib(pid: i32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Live (non-zombie) members of process group `pgid`, each with whether it is Python's
/// multiprocessing resource tracker.
fn group_members(pgid: i32) -> Vec<(i32, bool)> {
    pids()
        .filter(|&pid| stat_of(pid).is_some_and(|s| s.pgrp == pgid && s.state != 'Z'))
        .map(|pid| {
            let tracker = std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| c.windows(TRACKER.len()).any(|w| w == TRACKER.as_bytes()))
                .unwrap_or(false);
            (pid, tracker)
        })
        .collect()
}

const TRACKER: &str = "multiprocessing.resource_tracker";

/// SIGKILL to every live member of group `pgid` (but Python's resource tracker when
/// `spare_tracker`); false when the group had no live member.
pub fn kill_members(pgid: i32, spare_tracker: bool) -> bool {
    let members = group_members(pgid);
    for &(pid, tracker) in &members {
        if !(tracker && spare_tracker) {
            sigkill(pid);
        }
    }
    !members.is_empty()
}

/// Ends process group `pgid`: SIGKILL to every member except Python's resource tracker, which
/// then unlinks the shared memory and semaphores registered with it (vLLM's /dev/shm ring
/// buffers: a plain killpg would leave them behind) and exits once every process that used it is
/// gone. A tracker still there after `grace` is killed too. Returns when the group is empty or
/// holds only zombies.
pub fn end_group(pgid: i32, grace: Duration) {
    let deadline = Instant::now() + grace;
    loop {
        let late = Instant::now() >= deadline;
        if !kill_members(pgid, !late) {
            return;
        }
        if late {
            // ESRCH when the group is already empty.
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Every live (non-zombie) descendant of `root`.
pub fn descendants(root: i32) -> Vec<i32> {
    let procs = processes();
    let mut found = vec![root];
    let mut seen: HashSet<i32> = HashSet::from([root]);
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        for &(pid, ppid, _) in &procs {
            if ppid == p && seen.insert(pid) {
                found.push(pid);
            }
        }
        i += 1;
    }
    found.remove(0);
    let states: std::collections::HashMap<i32, char> =
        procs.iter().map(|&(p, _, s)| (p, s)).collect();
    found.retain(|p| states.get(p).is_some_and(|&s| s != 'Z'));
    found
}

/// Kills and reaps every process still parented to llmbench except `keep` (workers whose owner
/// threads are still waiting on them). Returns how many were found.
pub fn sweep(keep: &[i32], budget: Duration) -> usize {
    let me = std::process::id() as i32;
    let deadline = Instant::now() + budget;
    let mut total = 0;
    loop {
        let children: Vec<i32> = processes()
            .into_iter()
            .filter(|&(pid, ppid, _)| ppid == me && !keep.contains(&pid))
            .map(|(pid, _, _)| pid)
            .collect();
        if children.is_empty() || Instant::now() > deadline {
            return total;
        }
        for pid in children {
            total += 1;
            // Kill the whole tree below it first, so nothing escapes while we reap the parent.
            for d in descendants(pid) {
                sigkill(d);
            }
            sigkill(pid);
            let _ = nix::sys::wait::waitpid(Pid::from_raw(pid), None);
        }
    }
}

#[cfg(test)]
mod cpu_tests {
    use super::*;

    #[test]
    fn cpu_lists_parse_as_the_kernel_writes_them() {
        assert_eq!(parse_cpu_list("0-2,5\n"), Some(vec![0, 1, 2, 5]));
        assert_eq!(parse_cpu_list("3"), Some(vec![3]));
        assert_eq!(parse_cpu_list(""), None);
        assert_eq!(parse_cpu_list("2-1"), None);
        assert_eq!(parse_cpu_list("x"), None);
    }
}
