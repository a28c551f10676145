//! The seam between the scheduler and whatever serves the requests.
//!
//! The scheduler sees a `Backend`: a `Submitter` its pacer thread hands requests to, one stream
//! of `BackendEvent`s (outputs, failures, engine progress, death), abort, reset, telemetry and
//! shutdown. The `vllm_python` backend (`worker`) implements it over a supervised Python worker
//! speaking protocol v1 on a Unix socket; `sim` implements it in-process on a virtual clock for
//! the scheduler's unit tests. An HTTP backend (an OpenAI-compatible server) would implement the
//! same trait: prepare a request body, send it, turn SSE chunks into `BackendEvent::Outputs`.
pub mod engine_log;
pub mod protocol;
pub mod ray;
pub mod reaper;
#[cfg(test)]
pub mod sim;
pub mod worker;

use crate::data::prompts::RequestSpec;
use anyhow::Result;
use crossbeam_channel::Receiver;
pub use protocol::OutputItem;

/// What a backend reports, each stamped (CLOCK_MONOTONIC ns) when the supervisor received it.
#[derive(Debug, Clone, PartialEq)]
pub enum BackendEvent {
    /// Output items (new tokens, finishes) of one batch.
    Outputs(u64, Vec<OutputItem>),
    /// One request failed before or while it ran.
    Failed { t: u64, id: u64, error: String },
    /// The engine completed a step (cumulative `steps`), with no request necessarily finishing or
    /// producing a token: liveness for the engine watchdog.
    Progress { t: u64, steps: u64 },
    /// The backend is gone or failed for good; the text says why (may be empty).
    Died(String),
}

impl BackendEvent {
    /// When the supervisor received it (None for a death).
    pub fn stamp(&self) -> Option<u64> {
        match self {
            BackendEvent::Outputs(t, _)
            | BackendEvent::Failed { t, .. }
            | BackendEvent::Progress { t, .. } => Some(*t),
            BackendEvent::Died(_) => None,
        }
    }
}

/// Hands requests to the backend from the pacer thread. A request is prepared (built and
/// encoded) before the pacer waits for its send time, so that preparing never delays a send.
pub trait Submitter: Send {
    fn prepare(&mut self, id: u64, spec: &RequestSpec) -> Vec<u8>;
    /// For a request whose send time is not now: hands the request to the backend ahead, to be
    /// made ready there, and returns the short message that starts it (sent with `send` at the
    /// send time, in place of `prepare`'s). None where the backend has no such step, or for a
    /// request it cannot stage: `prepare` it then.
    fn stage(&mut self, _id: u64, _spec: &RequestSpec) -> Option<Vec<u8>> {
        None
    }
    /// Sends a prepared request; an error means the backend is gone.
    fn send(&mut self, prepared: &[u8]) -> Result<()>;
}

/// CPU and memory of the processes that serve the requests (zero where not measurable, e.g. a
/// remote server).
#[derive(Debug, Clone, Default)]
pub struct ProcessUsage {
    /// CPU seconds (user + system) so far of the backend's front-end process (the worker).
    pub cpu_seconds_worker: f64,
    /// CPU seconds so far of every process below it (the engine's processes).
    pub cpu_seconds_engine: f64,
    /// Peak resident memory of the front-end process, MiB.
    pub peak_rss_mib_worker: f64,
    /// Context switches so far of every thread of the front-end process.
    pub context_switches_worker: u64,
    /// The CPUs the front-end process may run on (e.g. "0-1").
    pub cpus_worker: Option<String>,
}

/// The backend's own health since the previous call.
#[derive(Debug, Clone, Default)]
pub struct BackendStats {
    /// How late each wake-up of the worker's 50 ms event-loop ticker was, µs.
    pub loop_lag_us: Vec<u64>,
    /// Engine state per step: (t_ns, running, waiting, kv_cache_usage, prefix_cache_queries,
    /// prefix_cache_hits, preemptions).
    pub telemetry: Vec<(u64, u32, u32, f64, u64, u64, u64)>,
    /// The engine's own counters summed over the steps since the previous `stats`; None
    /// without a vLLM stat logger (the mock engine, the simulator).
    pub engine_counters: Option<EngineCounters>,
}

/// The engine's own counters over one benchmark, summed by the worker from the stats vLLM
/// hands its stat logger after every engine step (docs/metrics.md, "Engine counters"). A
/// counter the installed vLLM does not keep is null.
#[derive(
    Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct EngineCounters {
    /// Engine steps the stat logger saw.
    #[serde(default)]
    pub steps: Option<u64>,
    /// Prompt tokens of the prefills the engine scheduled (computed + cached + external).
    #[serde(default)]
    pub prompt_tokens: Option<u64>,
    /// Prompt tokens the engine computed (prefilled locally).
    #[serde(default)]
    pub prompt_tokens_computed: Option<u64>,
    /// Prompt tokens taken from the engine's own prefix cache.
    #[serde(default)]
    pub prompt_tokens_cached: Option<u64>,
    /// Prompt tokens taken from an external KV transfer (a KV connector).
    #[serde(default)]
    pub prompt_tokens_external: Option<u64>,
    /// Prompt tokens written to the prefix cache, summed over the requests that finished
    /// (vLLM's per-request num_cache_creation_tokens).
    #[serde(default)]
    pub cache_creation_tokens: Option<u64>,
    /// Requests the engine preempted.
    #[serde(default)]
    pub preemptions: Option<u64>,
    /// Speculative decoding; null without a speculative config.
    #[serde(default)]
    pub spec_decoding: Option<SpecDecodingCounters>,
}

/// What ended a request at a stop condition (vLLM's CompletionOutput.stop_reason): the stop
/// string, or the stop token id (an end-of-sequence token leaves it null).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum StopReason {
    TokenId(u32),
    Text(String),
}

/// vLLM's SpecDecodingStats summed over a benchmark's engine steps.
#[derive(
    Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct SpecDecodingCounters {
    /// Drafts proposed (one per request per verification step).
    pub drafts: u64,
    /// Draft tokens proposed.
    pub draft_tokens: u64,
    /// Draft tokens the target model accepted.
    pub accepted_tokens: u64,
    /// accepted_tokens / draft_tokens; null without draft tokens.
    pub acceptance_rate: Option<f64>,
    /// Accepted draft tokens by position in the draft (index 0: the first draft token).
    pub accepted_per_position: Vec<u64>,
}

pub trait Backend {
    /// A submitter for the pacer thread; `sampling` is added to every request; `batching`
    /// sends them as vllm_python_batch's non-streaming micro-batches.
    fn submitter(
        &self,
        sampling: &protocol::Map,
        batching: Option<crate::plan::Batching>,
    ) -> Box<dyn Submitter>;
    /// The stream of outputs, failures, progress and death, in arrival order.
    fn events(&self) -> Receiver<BackendEvent>;
    /// Asks the engine to end these requests; each comes back with finish "abort".
    fn abort(&mut self, ids: &[u64]) -> Result<()>;
    /// Everything aborted, the engine idle, its prefix cache empty; events of the requests it
    /// ended are dropped (they belong to no benchmark). Gives up after `timeout` without an
    /// answer.
    fn reset(&mut self, timeout: std::time::Duration) -> Result<()>;
    /// Health since the previous call (None when the backend cannot say).
    fn stats(&mut self) -> Option<BackendStats>;
    /// CPU and memory of the serving processes so far.
    fn usage(&self) -> ProcessUsage {
        ProcessUsage::default()
    }
    /// CPU seconds used so far by the processes that compute the engine's steps, where that
    /// proves the engine is working (a long step shows no other progress): vLLM on a CPU host
    /// with its model workers in their own processes. None where CPU time proves nothing — on
    /// GPUs a hung collective can spin a core, and vLLM's engine-core busy-polls everywhere.
    fn compute_seconds(&self) -> Option<f64> {
        None
    }
    /// Notes that the backend died (the scheduler saw `BackendEvent::Died`).
    fn mark_dead(&mut self) {}
}
