//! Engines on Ray (`distributed_executor_backend: "ray"`, or the mock's `ray_actors`): what
//! llmbench can see of them through Ray's own state, before the engine starts and after its
//! worker is gone (docs/cluster.md, "Ray").
//!
//! The engine's Ray driver is a process of the worker's group (vLLM's EngineCore; the worker
//! itself for the mock), so the group kill that ends every engine also ends the driver, and
//! Ray then ends the driver's actors and removes its placement groups. Where the cluster is an
//! existing one (`RAY_ADDRESS`), llmbench asks Ray's GCS, with a short Python script run by the
//! worker's interpreter, which jobs, actors and placement groups exist before the engine starts
//! and waits after the teardown until those of the engine's jobs are released.

use crate::backend::protocol::Map;
use anyhow::{anyhow, Context, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Ray's GCS as JSON: live nodes, jobs, actors and placement groups (each with its job: the
/// last 8 hex digits of an actor or placement group id are its job's id).
const STATE_SCRIPT: &str = r#"
import json, sys
import ray
from ray._private import state
ray.init(address=sys.argv[1], logging_level="ERROR", log_to_driver=False)
out = {
    "nodes_alive": sum(1 for n in ray.nodes() if n.get("Alive")),
    # every job but this script's own runs (their entry point is this script)
    "jobs": [{"id": j["JobID"], "dead": bool(j["IsDead"])} for j in state.jobs()
             if "LLMBENCH_RAY_STATE" not in str(j.get("Entrypoint", ""))],
    "actors": [{"id": k, "state": v["State"], "job": v.get("JobID") or k[-8:]} for k, v in state.actors().items()],
    "placement_groups": [{"id": k, "state": v["state"], "job": k[-8:]} for k, v in state.state.placement_group_table().items()],
}
print("LLMBENCH_RAY_STATE " + json.dumps(out))
"#;

#[derive(Debug, Clone, Deserialize)]
pub struct Snapshot {
    pub nodes_alive: u64,
    pub jobs: Vec<Job>,
    pub actors: Vec<Entity>,
    pub placement_groups: Vec<Entity>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Job {
    pub id: String,
    pub dead: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Entity {
    pub id: String,
    pub state: String,
    pub job: String,
}

impl Snapshot {
    pub fn empty() -> Snapshot {
        Snapshot {
            nodes_alive: 0,
            jobs: Vec::new(),
            actors: Vec::new(),
            placement_groups: Vec::new(),
        }
    }

    fn alive_actors(&self) -> usize {
        self.actors.iter().filter(|a| a.state != "DEAD").count()
    }
    fn live_groups(&self) -> usize {
        self.placement_groups
            .iter()
            .filter(|g| g.state != "REMOVED")
            .count()
    }
}

/// What the report says about a model's engine on Ray (`models[].ray`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RayInfo {
    /// The cluster (`RAY_ADDRESS`); null when the engine started a local Ray instance of its
    /// own, which ends with the worker's process group.
    pub address: Option<String>,
    /// Live nodes of the cluster when the engine started.
    pub nodes_alive: Option<u64>,
    /// Live actors in the cluster before the engine started.
    pub actors_alive_before: Option<u64>,
    /// Placement groups not removed, before the engine started.
    pub placement_groups_before: Option<u64>,
    /// Live actors once the engine's worker was gone and Ray had released what it held.
    pub actors_alive_after: Option<u64>,
    /// Placement groups not removed, at the same time.
    pub placement_groups_after: Option<u64>,
    /// The Ray jobs the engine ran as (its drivers: vLLM's EngineCore, or the mock's worker).
    pub engine_jobs: Vec<String>,
    /// Actors those jobs created (alive or not).
    pub engine_actors: u64,
    /// Placement groups those jobs created (removed or not).
    pub engine_placement_groups: u64,
    /// Actors or placement groups of the engine still held when llmbench stopped waiting
    /// (empty: all released).
    pub left: Vec<String>,
    /// Seconds from the end of the worker's teardown until Ray had released every actor and
    /// placement group of the engine's jobs.
    pub released_after_s: Option<f64>,
    /// What llmbench cannot see on Ray.
    pub note: String,
}

pub const NOTE: &str = "GPU memory on other nodes of a Ray cluster is not read: llmbench's nvidia-smi check sees this host only, and Ray's resources do not show memory in use";

/// Whether a model's engine runs on Ray.
pub fn in_play(vllm_config: &Map, mock: &Map) -> bool {
    vllm_config
        .get("distributed_executor_backend")
        .and_then(|v| v.as_str())
        == Some("ray")
        || mock
            .get("ray_actors")
            .and_then(|v| v.as_u64())
            .is_some_and(|n| n > 0)
}

/// Ray's state, read by `python` (which must import ray) from the cluster at `address`.
pub fn snapshot(python: &Path, address: &str, timeout: Duration) -> Result<Snapshot> {
    let mut child = Command::new(python)
        .args(["-c", STATE_SCRIPT, address])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {} to read Ray's state", python.display()))?;
    let deadline = Instant::now() + timeout;
    loop {
        if child.try_wait()?.is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(anyhow!(
                "reading Ray's state at {address} took more than {timeout:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("LLMBENCH_RAY_STATE "))
        .ok_or_else(|| {
            let err = String::from_utf8_lossy(&out.stderr);
            anyhow!(
                "could not read Ray's state at {address}: {}",
                err.lines().last().unwrap_or("no output")
            )
        })?;
    Ok(serde_json::from_str(line)?)
}

impl RayInfo {
    pub fn local() -> RayInfo {
        RayInfo {
            note: format!("{NOTE}; the engine started its own local Ray instance, whose processes end with the worker's process group"),
            ..Default::default()
        }
    }

    pub fn before(address: &str, s: &Snapshot) -> RayInfo {
        RayInfo {
            address: Some(address.to_string()),
            nodes_alive: Some(s.nodes_alive),
            actors_alive_before: Some(s.alive_actors() as u64),
            placement_groups_before: Some(s.live_groups() as u64),
            note: NOTE.to_string(),
            ..Default::default()
        }
    }

    /// After the teardown: waits (up to `wait`) until every actor and placement group of the
    /// jobs that appeared since `before` is released, reading the state every half second.
    pub fn after(&mut self, python: &Path, before: &Snapshot, wait: Duration) {
        let Some(address) = self.address.clone() else {
            return;
        };
        let t0 = Instant::now();
        let known: std::collections::HashSet<&str> =
            before.jobs.iter().map(|j| j.id.as_str()).collect();
        loop {
            let s = match snapshot(python, &address, Duration::from_secs(60)) {
                Ok(s) => s,
                Err(e) => {
                    self.left = vec![format!("{e:#}")];
                    return;
                }
            };
            let jobs: Vec<String> = s
                .jobs
                .iter()
                .filter(|j| !known.contains(j.id.as_str()))
                .map(|j| j.id.clone())
                .collect();
            let ours = |job: &str| jobs.iter().any(|j| j == job);
            let actors: Vec<&Entity> = s.actors.iter().filter(|a| ours(&a.job)).collect();
            let groups: Vec<&Entity> = s.placement_groups.iter().filter(|g| ours(&g.job)).collect();
            let left: Vec<String> = actors
                .iter()
                .filter(|a| a.state != "DEAD")
                .map(|a| format!("actor {} ({})", a.id, a.state))
                .chain(
                    groups
                        .iter()
                        .filter(|g| g.state != "REMOVED")
                        .map(|g| format!("placement group {} ({})", g.id, g.state)),
                )
                .collect();
            self.engine_jobs = jobs.clone();
            self.engine_actors = actors.len() as u64;
            self.engine_placement_groups = groups.len() as u64;
            self.actors_alive_after = Some(s.alive_actors() as u64);
            self.placement_groups_after = Some(s.live_groups() as u64);
            if left.is_empty() {
                self.released_after_s = Some(t0.elapsed().as_secs_f64());
                self.left.clear();
                return;
            }
            self.left = left;
            if t0.elapsed() > wait {
                return;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}
