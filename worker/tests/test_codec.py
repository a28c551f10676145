"""Framing and codec: golden frames, the pure-Python fallback codec against msgspec."""

import glob
import os
import re
import subprocess
import sys

import msgspec
import pytest

from conftest import GOLDEN, REPO, W

PY = (W.py_encode, W.py_decode, "python")
MS = (msgspec.msgpack.encode, msgspec.msgpack.decode, "msgspec")


@pytest.fixture(params=[MS, PY], ids=["msgspec", "python"])
def codec(request):
    old = (W._encode, W._decode, W.CODEC)
    W.set_codec(*request.param)
    yield request.param
    W.set_codec(*old)


def golden_files():
    return sorted(glob.glob(os.path.join(GOLDEN, "*.msgpack")))


def doc_tables():
    """{message type: [keys in table order]} from the message tables of docs/protocol.md."""
    text = open(os.path.join(REPO, "docs", "protocol.md"), encoding="utf-8").read()
    out = {}
    section = None
    for line in text.splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
            continue
        if section not in ("Supervisor → worker", "Worker → supervisor"):
            continue
        m = re.match(r"^\| `([a-z_]+)` \| (.*?) \| .* \|$", line)
        if not m:
            continue
        name, keys = m.group(1), m.group(2)
        if name in out:
            continue  # the outputs-item table below the message table
        out[name] = [] if keys.strip() == "—" else re.findall(r"`([a-z_]+)`:", keys)
    return out


def test_golden_set_matches_protocol_doc():
    messages = doc_tables()
    item_keys = {"id", "n", "t_ns", "token_ids", "finish", "received_ns", "submitted_ns", "prompt_tokens",
                 "cached_tokens", "stop_reason", "engine", "steps"}
    messages = {k: v for k, v in messages.items() if k not in item_keys}
    names = {os.path.basename(f)[: -len(".msgpack")] for f in golden_files()}
    assert names == set(messages), "golden files and protocol.md message tables differ"
    for f in golden_files():
        name = os.path.basename(f)[: -len(".msgpack")]
        msg = msgspec.msgpack.decode(open(f, "rb").read()[4:])
        assert list(msg) == ["type"] + messages[name], name


@pytest.mark.parametrize("path", golden_files(), ids=os.path.basename)
def test_golden_decode_reencode(path, codec):
    data = open(path, "rb").read()
    msgs, rest = W.unpack_frames(data)
    assert rest == b"" and len(msgs) == 1
    assert msgs[0]["type"] == os.path.basename(path)[: -len(".msgpack")]
    assert W.pack_frame(msgs[0]) == data


def test_golden_outputs_item_keys_in_doc_order():
    data = open(os.path.join(GOLDEN, "outputs.msgpack"), "rb").read()
    items = msgspec.msgpack.decode(data[4:])["items"]
    order = ["id", "n", "t_ns", "token_ids", "finish", "received_ns", "submitted_ns", "prompt_tokens",
             "cached_tokens", "engine", "steps"]
    for it in items:
        keys = list(it)
        assert keys == [k for k in order if k in it]
    assert items[0]["finish"] is None and "token_ids" in items[0] and "received_ns" in items[0]
    assert items[1]["finish"] == "length" and {"prompt_tokens", "cached_tokens", "engine"} <= set(items[1])
    assert list(items[1]["engine"]) == ["queued_ns", "scheduled_ns", "first_token_ns", "last_token_ns", "preemptions"]
    held = items[2]  # several held outputs of one request in one item
    assert held["finish"] is None and held["n"] == sum(held["steps"][0::2]) and held["t_ns"] == held["steps"][-1]


def test_make_golden_reproduces_files(tmp_path):
    subprocess.run([sys.executable, os.path.join(GOLDEN, "make_golden.py"), str(tmp_path)], check=True,
                   capture_output=True)
    for f in golden_files():
        assert open(f, "rb").read() == (tmp_path / os.path.basename(f)).read_bytes(), f


VALUES = [
    None, True, False, 0, 1, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**64 - 1,
    -1, -32, -33, -128, -129, -32768, -32769, -2**31, -2**31 - 1, -2**63,
    0.0, -1.5, 3.141592653589793, 1e300, float("inf"),
    "", "a", "x" * 31, "x" * 32, "x" * 255, "x" * 256, "é" * 40000, "\ue000",
    b"", b"\x00\xff", b"b" * 300, b"b" * 70000,
    [], [1, 2], list(range(15)), list(range(16)), list(range(70000)),
    {}, {"a": 1}, {str(i): i for i in range(15)}, {str(i): i for i in range(16)},
    {str(i): i for i in range(70000)}, {1: "int key"},
    {"nested": [{"a": [None, 1.25, {"b": b"c"}]}]},
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: repr(v)[:30])
def test_python_codec_matches_msgspec(value):
    ref = msgspec.msgpack.encode(value)
    assert W.py_encode(value) == ref
    assert W.py_decode(ref) == msgspec.msgpack.decode(ref) or value != value
    assert W.py_decode(W.py_encode(value)) == value


def test_python_decoder_reads_float32():
    assert W.py_decode(b"\xca\x3f\xc0\x00\x00") == 1.5


@pytest.mark.parametrize(
    "data",
    [
        b"",  # nothing
        b"\xc1",  # never-used byte
        b"\x92\x01",  # array of 2 with 1
        b"\xdd\xff\xff\xff\xff",  # array claims 4 G elements
        b"\xdf\xff\xff\xff\xff",  # map claims 4 G pairs
        b"\xdb\xff\xff\xff\xff",  # str claims 4 GiB
        b"\xa3ab",  # short str
        b"\xa2\xff\xfe",  # invalid utf-8
        b"\x81\x91\x01\x02",  # array as map key
        b"\x01\x02",  # trailing bytes
        b"\xd4\x01\x02",  # ext types are not used
    ],
)
def test_python_decoder_rejects(data):
    with pytest.raises(ValueError):
        W.py_decode(data)


def test_frame_errors(codec):
    with pytest.raises(W.ProtocolError, match="length"):
        W.unpack_frames(b"\x00\x00\x00\x00")
    with pytest.raises(W.ProtocolError, match="length"):
        W.unpack_frames(b"\x04\x00\x00\x01" + b"\x80")  # 64 MiB + 1
    with pytest.raises(W.ProtocolError, match="MessagePack"):
        W.unpack_frames(b"\x00\x00\x00\x01\xc1")
    with pytest.raises(W.ProtocolError, match="not a map"):
        W.unpack_frames(b"\x00\x00\x00\x02\x91\x01")
    with pytest.raises(W.ProtocolError, match="type"):
        W.unpack_frames(b"\x00\x00\x00\x04\x81\xa1a\x01")  # {"a": 1}
    # a partial frame is kept for later, not an error
    whole = W.pack_frame({"type": "bye"})
    msgs, rest = W.unpack_frames(whole + whole[:5])
    assert msgs == [{"type": "bye"}] and rest == whole[:5]


def test_pack_frame_refuses_oversized(codec):
    with pytest.raises(ValueError, match="limit"):
        W.pack_frame({"type": "tokenized", "blob": b"x" * (W.MAX_FRAME + 1)})
