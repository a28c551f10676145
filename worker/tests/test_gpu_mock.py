"""The mock's gpu_memory_bytes on a real GPU: memory held while up, back after shutdown or kill.

Skipped where there is no nvidia-smi (the usual CPU-only test host)."""

import os
import shutil
import signal
import subprocess
import time

import pytest

pytestmark = pytest.mark.skipif(shutil.which("nvidia-smi") is None, reason="no NVIDIA GPU (nvidia-smi not found)")

GIB = 1 << 30


def used_mib():
    out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                         capture_output=True, text=True, check=True).stdout
    return int(out.split()[0])


def wait_back(baseline, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if used_mib() <= baseline + 64:
            return True
        time.sleep(0.2)
    return False


def start(supervisor):
    s = supervisor(timeout=120)
    assert s.recv()["type"] == "hello"
    s.send({"type": "init", "engine": "mock", "model": "m", "vllm_config": {},
            "mock": {"gpu_memory_bytes": 2 * GIB, "step_base_us": 500}, "processor": None, "seed": 0})
    r = s.recv(timeout=120)
    assert r["type"] == "ready", r
    return s, r


def test_gpu_memory_held_and_returned(supervisor):
    baseline = used_mib()
    s, r = start(supervisor)
    assert r["device"] == "cuda" and r["config"]["gpu_memory_allocated_bytes"] == 2 * GIB
    assert used_mib() >= baseline + 2048
    s.send({"type": "generate", "id": 1, "prompt_token_ids": [1, 2], "max_tokens": 3, "ignore_eos": True,
            "sampling": {}})
    n = 0
    while True:
        m = s.recv()
        n += sum(i["n"] for i in m["items"])
        if m["items"][-1]["finish"]:
            break
    assert n == 3
    s.send({"type": "shutdown"})
    assert s.recv_type("bye", collect=[]) == {"type": "bye"}
    assert s.wait(30) == 0
    assert wait_back(baseline), "GPU memory did not return after shutdown: %d MiB vs %d" % (used_mib(), baseline)

    # a killed worker's process group gives its memory back too
    s, r = start(supervisor)
    assert used_mib() >= baseline + 2048
    os.killpg(s.proc.pid, signal.SIGKILL)
    s.wait(30)
    assert wait_back(baseline), "GPU memory did not return after kill: %d MiB vs %d" % (used_mib(), baseline)
