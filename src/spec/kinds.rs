//! The kinds and keys of each GuideLLM 0.8.1 `run` option, and what llmbench does with them
//! (read from GuideLLM 0.8.1's `guidellm/schemas/`; docs/cli.md has the same table in words).

use super::fields::{Kind, Support::NotYet, Support::Yes};

const IN_PROCESS: &str = "llmbench runs vLLM's engine in-process, with no HTTP server; use --backend kind=vllm_python,model=MODEL";

pub static BACKEND: &[Kind] = &[
    Kind {
        names: &["vllm_python", "vllm_python_async"],
        keys: &[
            ("model", Yes),
            ("vllm_config", Yes),
            ("request_format", Yes),
            ("stream", Yes),
            ("image_placeholder", Yes),
            ("audio_placeholder", Yes),
            // llmbench's own (as in --backend-kwargs).
            ("engine", Yes),
            ("mock", Yes),
            ("sampling", Yes),
        ],
        refused: None,
        support: Yes,
    },
    Kind {
        names: &["vllm_python_batch"],
        keys: &[
            ("model", Yes),
            ("vllm_config", Yes),
            ("request_format", Yes),
            ("stream", Yes),
            ("image_placeholder", Yes),
            ("audio_placeholder", Yes),
            ("batch_size", Yes),
            ("batch_timeout", Yes),
            ("engine", Yes),
            ("mock", Yes),
            ("sampling", Yes),
        ],
        refused: None,
        support: Yes,
    },
    Kind {
        names: &["openai_http"],
        keys: &[],
        refused: Some(IN_PROCESS),
        support: Yes,
    },
    Kind {
        names: &["openai_websocket"],
        keys: &[],
        refused: Some(IN_PROCESS),
        support: Yes,
    },
];

const PROFILE_COMMON: [(&str, super::fields::Support); 3] =
    [("rampup_duration", Yes), ("warmup", Yes), ("cooldown", Yes)];

macro_rules! profile_keys {
    ($($k:expr),*) => { &[PROFILE_COMMON[0], PROFILE_COMMON[1], PROFILE_COMMON[2] $(, $k)*] };
}

pub static PROFILE: &[Kind] = &[
    Kind {
        names: &["synchronous"],
        keys: profile_keys!(),
        refused: None,
        support: Yes,
    },
    Kind {
        names: &["concurrent"],
        keys: profile_keys!(("streams", Yes)),
        refused: None,
        support: Yes,
    },
    Kind {
        names: &["throughput"],
        keys: profile_keys!(("max_concurrency", Yes)),
        refused: None,
        support: Yes,
    },
    Kind {
        names: &["constant", "async"],
        keys: profile_keys!(("rate", Yes), ("max_concurrency", Yes)),
        refused: None,
        support: Yes,
    },
    Kind {
        names: &["poisson"],
        keys: profile_keys!(("rate", Yes), ("max_concurrency", Yes)),
        refused: None,
        support: Yes,
    },
    Kind {
        names: &["sweep"],
        keys: profile_keys!(
            ("sweep_size", Yes),
            ("strategy_type", Yes),
            ("max_concurrency", Yes)
        ),
        refused: None,
        support: Yes,
    },
    Kind {
        names: &["replay"],
        keys: profile_keys!(("time_scale", Yes), ("schedule_turn", Yes)),
        refused: None,
        support: Yes,
    },
    Kind {
        names: &["goodput"],
        keys: profile_keys!(
            ("target_attainment", Yes),
            ("initial_streams", Yes),
            ("max_streams", Yes),
            ("tolerance", Yes),
            ("max_probes", Yes),
            ("confidence", Yes),
            // llmbench's own: the sequential test that may end a probe early.
            ("decide_early", Yes),
            ("decide_margin", Yes)
        ),
        refused: None,
        support: Yes,
    },
    Kind {
        names: &["knee"],
        keys: profile_keys!(
            ("initial_streams", Yes),
            ("min_streams", Yes),
            ("max_streams", Yes),
            ("count", Yes),
            ("adaptive", Yes),
            ("points_each_side", Yes),
            ("max_step", Yes)
        ),
        refused: None,
        support: Yes,
    },
];

pub static CONSTRAINT: &[Kind] = &[
    Kind {
        names: &["max_duration"],
        keys: &[("seconds", Yes), ("stopping_scope", Yes)],
        refused: None,
        support: Yes,
    },
    Kind {
        names: &["max_requests"],
        keys: &[("count", Yes), ("stopping_scope", Yes)],
        refused: None,
        support: Yes,
    },
    Kind {
        names: &["max_errors"],
        keys: &[("count", Yes), ("stopping_scope", Yes)],
        refused: None,
        support: Yes,
    },
    Kind {
        names: &["max_error_rate"],
        keys: &[("rate", Yes), ("window", Yes), ("stopping_scope", Yes)],
        refused: None,
        support: Yes,
    },
    Kind {
        names: &["max_global_error_rate"],
        keys: &[("rate", Yes), ("minimum", Yes), ("stopping_scope", Yes)],
        refused: None,
        support: Yes,
    },
    Kind {
        names: &["over_saturation"],
        keys: &[
            ("mode", Yes),
            ("min_seconds", Yes),
            ("max_window_seconds", Yes),
            ("moe_threshold", Yes),
            ("minimum_ttft", Yes),
            ("maximum_window_ratio", Yes),
            ("minimum_window_size", Yes),
            ("confidence", Yes),
            ("stopping_scope", Yes),
            // llmbench's own detector's growth threshold.
            ("min_growth", Yes),
        ],
        refused: None,
        support: Yes,
    },
    Kind {
        names: &["min_requests"],
        keys: &[("count", Yes), ("stopping_scope", Yes)],
        refused: None,
        support: Yes,
    },
];

const SYNTHETIC_KEYS: &[(&str, super::fields::Support)] = &[
    ("prompt_tokens", Yes),
    ("prompt_tokens_stdev", Yes),
    ("prompt_tokens_min", Yes),
    ("prompt_tokens_max", Yes),
    ("output_tokens", Yes),
    ("output_tokens_stdev", Yes),
    ("output_tokens_min", Yes),
    ("output_tokens_max", Yes),
    ("prefix_tokens", Yes),
    ("prefix_count", Yes),
    ("load_kwargs", Yes),
    ("turns", Yes),
    // Tool calls, sub-agents and prefix mixes: the real-workloads issue.
    ("first_prompt_tokens", Yes),
    ("first_prompt_tokens_stdev", Yes),
    ("first_prompt_tokens_min", Yes),
    ("first_prompt_tokens_max", Yes),
    ("first_output_tokens", Yes),
    ("first_output_tokens_stdev", Yes),
    ("first_output_tokens_min", Yes),
    ("first_output_tokens_max", Yes),
    ("delay", Yes),
    ("delay_stdev", Yes),
    ("delay_min", Yes),
    ("delay_max", Yes),
    ("tool_call_turns", NotYet),
    ("tools", NotYet),
    ("tool_response_tokens", NotYet),
    ("tool_response_tokens_stdev", NotYet),
    ("tool_response_tokens_min", NotYet),
    ("tool_response_tokens_max", NotYet),
    ("server_tool_call_turns", NotYet),
    ("branches", NotYet),
    ("prefix_buckets", Yes),
];

/// The trace kinds' keys (GuideLLM's `TraceDataArgs`, Mooncake's two, and llmbench's `path`
/// and `timestamp_unit`); `hash_id_block_size` and `hash_ids_column` are for mooncake only.
const TRACE_KEYS: &[(&str, super::fields::Support)] = &[
    ("source", Yes),
    ("path", Yes),
    ("timestamp_unit", Yes),
    ("hash_id_block_size", Yes),
    ("hash_ids_column", Yes),
    ("timestamp_column", Yes),
    ("prompt_tokens_column", Yes),
    ("output_tokens_column", Yes),
    ("load_kwargs", Yes),
    // Session timing and multi-turn traces (docs/metrics.md, "Trace replay").
    ("duration_column", Yes),
    ("conversation_id_column", Yes),
    ("max_wait", Yes),
    ("max_session_wait", Yes),
    ("min_concurrent_sessions", Yes),
    ("time_scale", Yes),
    ("copies", Yes),
    ("copy_offset", Yes),
];

const TEXT_ONLY: &str =
    "llmbench benchmarks text generation; image and video requests are not built";
const PYTHON_ONLY: &str =
    "in-memory data is GuideLLM's Python API, not a command-line source; save it to a file";

pub static DATA: &[Kind] = &[
    Kind {
        names: &["synthetic_text"],
        keys: SYNTHETIC_KEYS,
        refused: None,
        support: Yes,
    },
    Kind {
        names: &["text_file"],
        keys: &[("path", Yes), ("load_kwargs", Yes)],
        refused: None,
        support: Yes,
    },
    Kind {
        names: &["csv_file"],
        keys: &[("path", Yes), ("load_kwargs", Yes)],
        refused: None,
        support: Yes,
    },
    Kind {
        names: &["json_file"],
        keys: &[("path", Yes), ("load_kwargs", Yes)],
        refused: None,
        support: Yes,
    },
    Kind {
        names: &["parquet_file"],
        keys: &[("path", Yes), ("load_kwargs", Yes)],
        refused: None,
        support: Yes,
    },
    Kind {
        names: &["arrow_file"],
        keys: &[("path", Yes), ("load_kwargs", Yes)],
        refused: None,
        support: Yes,
    },
    Kind {
        names: &["huggingface", "hf"],
        // GuideLLM's aliases of `source`; `split` is llmbench's shorthand for load_kwargs.split.
        keys: &[
            ("source", Yes),
            ("src", Yes),
            ("from", Yes),
            ("path", Yes),
            ("name", Yes),
            ("split", Yes),
            ("load_kwargs", Yes),
        ],
        refused: None,
        support: Yes,
    },
    Kind {
        names: &["hdf5_file"],
        keys: &[],
        refused: None,
        support: NotYet,
    },
    Kind {
        names: &["tar_file"],
        keys: &[],
        refused: None,
        support: NotYet,
    },
    Kind {
        names: &["db_file"],
        keys: &[],
        refused: None,
        support: NotYet,
    },
    Kind {
        names: &["trace_synthetic"],
        keys: TRACE_KEYS,
        refused: None,
        support: Yes,
    },
    Kind {
        names: &["mooncake"],
        keys: TRACE_KEYS,
        refused: None,
        support: Yes,
    },
    Kind {
        names: &["otel", "opentelemetry"],
        keys: &[],
        refused: None,
        support: NotYet,
    },
    Kind {
        names: &["weka"],
        keys: &[],
        refused: None,
        support: NotYet,
    },
    Kind {
        names: &["synthetic_image"],
        keys: &[],
        refused: Some(TEXT_ONLY),
        support: Yes,
    },
    Kind {
        names: &["synthetic_video"],
        keys: &[],
        refused: Some(TEXT_ONLY),
        support: Yes,
    },
    Kind {
        names: &["in_memory_dict"],
        keys: &[],
        refused: Some(PYTHON_ONLY),
        support: Yes,
    },
    Kind {
        names: &["in_memory_dict_list"],
        keys: &[],
        refused: Some(PYTHON_ONLY),
        support: Yes,
    },
    Kind {
        names: &["in_memory_item_list"],
        keys: &[],
        refused: Some(PYTHON_ONLY),
        support: Yes,
    },
];

pub static TOKENIZER: &[Kind] = &[Kind {
    names: &["huggingface_auto", "hf_auto"],
    keys: &[("model", Yes), ("load_kwargs", Yes)],
    refused: None,
    support: Yes,
}];

pub static COLUMN_MAPPER: &[Kind] = &[
    Kind {
        names: &["generative_column_mapper"],
        keys: &[("column_mappings", Yes)],
        refused: None,
        support: Yes,
    },
    Kind {
        names: &["pooling_column_mapper"],
        keys: &[],
        refused: Some("llmbench benchmarks generation, not pooling (embedding) models"),
        support: Yes,
    },
];

pub static PREPROCESSOR: &[Kind] = &[
    Kind {
        names: &["encode_media"],
        keys: &[
            ("audio_kwargs", Yes),
            ("image_kwargs", Yes),
            ("video_kwargs", Yes),
        ],
        refused: None,
        support: Yes,
    },
    Kind {
        names: &["tool_calling_message_extractor"],
        keys: &[],
        refused: None,
        support: NotYet,
    },
    Kind {
        names: &["turn_pivot"],
        keys: &[],
        refused: None,
        support: NotYet,
    },
];

pub static FINALIZER: &[Kind] = &[Kind {
    names: &["generative"],
    keys: &[("tool_call_mode", Yes)],
    refused: None,
    support: Yes,
}];

pub static LOADER: &[Kind] = &[Kind {
    names: &["pytorch"],
    keys: &[
        ("samples", Yes),
        ("shuffle", Yes),
        ("num_workers", Yes),
        ("prefetch_factor", Yes),
    ],
    refused: None,
    support: Yes,
}];

pub static SEED: &[Kind] = &[Kind {
    names: &["static"],
    keys: &[("value", Yes)],
    refused: None,
    support: Yes,
}];

pub static OUTPUT: &[Kind] = &[
    Kind {
        names: &["console"],
        keys: &[],
        refused: None,
        support: Yes,
    },
    Kind {
        names: &["json"],
        keys: &[("path", Yes)],
        refused: None,
        support: Yes,
    },
    Kind {
        names: &["yaml"],
        keys: &[("path", Yes)],
        refused: None,
        support: Yes,
    },
    Kind {
        names: &["csv"],
        keys: &[("path", Yes), ("headers", Yes)],
        refused: None,
        support: Yes,
    },
    Kind {
        names: &["html"],
        keys: &[("path", Yes)],
        refused: None,
        support: Yes,
    },
    Kind {
        names: &["plot"],
        keys: &[("path", Yes), ("dpi", Yes)],
        refused: None,
        support: Yes,
    },
];

pub static METRICS: &[Kind] = &[Kind {
    names: &["generative"],
    keys: &[
        ("sample_size", Yes),
        ("prefer_response_metrics", Yes),
        ("confidence", Yes),
        ("slo", Yes),
        // Warning rules: the answers issue.
        ("warnings", Yes),
    ],
    refused: None,
    support: Yes,
}];
