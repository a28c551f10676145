"""Test helpers: play the supervisor's side of the worker protocol over a real Unix socket."""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER_DIR = os.path.dirname(HERE)
REPO = os.path.dirname(WORKER_DIR)
WORKER = os.path.join(WORKER_DIR, "llmbench_worker.py")
GOLDEN = os.path.join(REPO, "tests", "golden")
# the tiny models (scripts/make-tiny-model.sh); LLMBENCH_TEST_MODELS points elsewhere (a git worktree)
MODELS = os.environ.get("LLMBENCH_TEST_MODELS") or os.path.join(REPO, ".cache", "models")

sys.path.insert(0, WORKER_DIR)
import llmbench_worker as W  # noqa: E402  (top level is stdlib only: cheap to import)

W.set_codec(*W.load_codec())


class Supervisor:
    """Binds a socket, spawns the worker in its own process group with a death pipe on stdin."""

    def __init__(self, env=None, python=None, extra_args=(), timeout=10.0):
        self.dir = tempfile.mkdtemp(prefix="llmbench-test-")
        os.chmod(self.dir, 0o700)
        self.path = os.path.join(self.dir, "w.sock")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(1)
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            [python or sys.executable, "-u", WORKER, "--socket", self.path, "--parent-pid", str(os.getpid()), *extra_args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=full_env,
            start_new_session=True,
        )
        self.listener.settimeout(timeout)
        self.conn, _ = self.listener.accept()
        self.conn.settimeout(timeout)
        self.buf = b""
        self.frames = []  # every message received, in order
        self.progress = []  # `progress` frames, which recv() sets aside unless asked for them

    def send(self, msg):
        self.conn.sendall(W.pack_frame(msg))

    def send_raw(self, data):
        self.conn.sendall(data)

    def recv(self, timeout=10.0, progress=False):
        """The next frame. `progress` frames (the engine's liveness signal, sent while it steps,
        between any others) go to self.progress instead, unless `progress` is true."""
        deadline = time.monotonic() + timeout
        while True:
            msgs, self.buf = W.unpack_frames(self.buf)
            if msgs:
                # keep the rest queued
                first = msgs[0]
                rest = b"".join(W.pack_frame(m) for m in msgs[1:])
                self.buf = rest + self.buf
                self.frames.append(first)
                if first["type"] == "progress" and not progress:
                    self.progress.append(first)
                    continue
                return first
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no frame from the worker within %.1f s" % timeout)
            self.conn.settimeout(left)
            data = self.conn.recv(1 << 20)
            if not data:
                raise EOFError("worker closed the connection (rc=%s, stderr=%s)" % (self.proc.poll(), self.stderr_now()))
            self.buf += data

    def recv_type(self, typ, timeout=10.0, collect=None):
        """Receive until a frame of this type; others go to `collect` (a list) if given."""
        deadline = time.monotonic() + timeout
        while True:
            m = self.recv(max(0.01, deadline - time.monotonic()))
            if m["type"] == typ:
                return m
            if collect is None:
                raise AssertionError("expected %s, got %r" % (typ, m))
            collect.append(m)

    def stderr_now(self):
        return ""

    def wait(self, timeout=10.0):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def close(self):
        for c in (getattr(self, "conn", None), self.listener):
            try:
                c.close()
            except Exception:
                pass
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except Exception:
                pass
        try:
            os.unlink(self.path)
            os.rmdir(self.dir)
        except OSError:
            pass


@pytest.fixture
def supervisor():
    made = []

    def start(**kw):
        s = Supervisor(**kw)
        made.append(s)
        return s

    yield start
    for s in made:
        s.close()
