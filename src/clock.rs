//! One clock for everything: CLOCK_MONOTONIC in integer nanoseconds.
//!
//! The worker stamps with Python's `time.monotonic_ns()` and vLLM's EngineCore with
//! `time.monotonic()`; both read the same host-wide CLOCK_MONOTONIC, so every stamp in a request's
//! chain lies on one timeline with no offset to estimate. `Instant` is opaque and `SystemTime` is
//! wall time, so neither is used for measurements.

use nix::sys::time::TimeSpec;
use nix::time::ClockId;

/// Nanoseconds of CLOCK_MONOTONIC.
pub fn now_ns() -> u64 {
    // CLOCK_MONOTONIC always exists on Linux; the call is served by the vDSO.
    let ts = nix::time::clock_gettime(ClockId::CLOCK_MONOTONIC).unwrap_or(TimeSpec::new(0, 0));
    ts.tv_sec() as u64 * 1_000_000_000 + ts.tv_nsec() as u64
}

/// Sleeps until the absolute CLOCK_MONOTONIC time `t_ns` (TIMER_ABSTIME: no drift from
/// relative sleeps; microsecond-level wake-ups instead of tokio's millisecond timer).
pub fn sleep_until_ns(t_ns: u64) {
    let ts = TimeSpec::new(
        (t_ns / 1_000_000_000) as libc::time_t,
        (t_ns % 1_000_000_000) as libc::c_long,
    );
    while let Err(nix::errno::Errno::EINTR) = nix::time::clock_nanosleep(
        ClockId::CLOCK_MONOTONIC,
        nix::time::ClockNanosleepFlags::TIMER_ABSTIME,
        &ts,
    ) {}
}

/// The clock the scheduler paces and checks its constraints by. `Monotonic` is the real one;
/// unit tests drive the scheduler on a virtual clock (`backend::sim`) so that every profile and
/// constraint is checked deterministically, in milliseconds, without Python.
pub trait Clock: Send + Sync {
    /// Nanoseconds on the clock's timeline.
    fn now_ns(&self) -> u64;
    /// Waits until `t_ns`, or until `stop` is set; true when `t_ns` was reached.
    fn wait_until(&self, t_ns: u64, stop: &std::sync::atomic::AtomicBool) -> bool;
    /// The collector found nothing to do for `d` (a real clock has already waited that long).
    fn idle(&self, _d: std::time::Duration) {}
    /// The pacer has sent the request it last waited for.
    fn dispatched(&self) {}
    /// Whether this is the host's real clock (the pacer then asks for real-time priority).
    fn is_real(&self) -> bool {
        false
    }
}

/// CLOCK_MONOTONIC, with the pacer's wait: coarse sleeps in slices (to notice `stop`), then
/// to just before the target, then a spin for the last few microseconds (a wake-up is never
/// exactly on time).
pub struct Monotonic;

/// The last stretch before a target is spun, not slept.
const SPIN_NS: u64 = 20_000;

impl Clock for Monotonic {
    fn now_ns(&self) -> u64 {
        now_ns()
    }
    fn is_real(&self) -> bool {
        true
    }
    fn wait_until(&self, t_ns: u64, stop: &std::sync::atomic::AtomicBool) -> bool {
        use std::sync::atomic::Ordering;
        loop {
            if stop.load(Ordering::Relaxed) {
                return false;
            }
            let now = now_ns();
            if now + SPIN_NS >= t_ns {
                while now_ns() < t_ns {
                    std::hint::spin_loop();
                }
                return true;
            }
            sleep_until_ns((t_ns - SPIN_NS).min(now + 50_000_000));
        }
    }
}

/// Asks the kernel to keep CPUs out of deep idle states while held (PM QoS, `/dev/cpu_dma_latency`
/// = 0), as latency-oriented tuning profiles do. On virtual machines the wake-up from a halted
/// vCPU otherwise delays timers by milliseconds, which would show up as dispatch lag. Needs root;
/// `None` where not permitted. The request lasts as long as the returned file is open.
pub fn hold_low_latency() -> Option<std::fs::File> {
    use std::io::Write;
    if std::env::var_os("LLMBENCH_NO_CPU_LATENCY_HINT").is_some() {
        return None;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/cpu_dma_latency")
        .ok()?;
    f.write_all(&0i32.to_ne_bytes()).ok()?;
    Some(f)
}

/// Wall-clock seconds since the epoch, for report metadata only.
pub fn wall_unix_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn monotonic_and_sleeps_to_absolute_target() {
        let a = now_ns();
        sleep_until_ns(a + 2_000_000);
        let b = now_ns();
        assert!(b >= a + 2_000_000);
    }
}
