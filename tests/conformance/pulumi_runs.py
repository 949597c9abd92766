"""Runs of a generated foundation under the Pulumi SDK's mocks, one process import for the session.

Each run goes through the foundation's own harness (`tests/harness.py` of the generated repo,
`run_in_process`), exactly as `python -m tests.harness STACK` runs it. What is saved is the
import: importing the Pulumi AWS, EKS and Kubernetes SDKs takes most of a run's time. So a
*fork server* does it once: a single-threaded Python process (the test venv's) imports the SDK
modules the harness names, then forks one child per requested run. A child starts with the
imported SDKs and nothing else of any foundation: it drops every `tests*` module, puts the
foundation first on `sys.path`, imports that foundation's harness and runs the stack. Pulumi's
mock runtime is process-global, so every run still has a process of its own.

Runs are cached by content, not path: the key is a digest of every file the program reads for
the stack (see `checks._stack_digest`), so identical foundations (copies, unchanged growth
steps) run once. Concurrent requests for the same content wait for the one run.

The protocol, one JSON object per line:
    request  (stdin):  {"id": N, "root": DIR, "stack": NAME, "out": DIR, "overrides": {...}}
    reply    (stdout): {"id": N, "status": EXIT_CODE}
The child writes `OUT/resources.json`, `OUT/outputs.json`, or `OUT/error.txt` (a traceback).
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Callable

# The server: reads requests, forks a child per run (at most WORKERS at a time), replies when a
# child ends. Single-threaded on purpose: forking a process with threads is unsafe.
SERVER = r'''
import importlib, json, os, select, sys, traceback
from pathlib import Path

workers = int(sys.argv[1])
for module in json.loads(sys.argv[2]):
    importlib.import_module(module)
sys.stdout.flush()
sys.stderr.flush()


def child(request):
    out = Path(request["out"])
    code = 1
    try:
        log = os.open(out / "log.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        for name in [n for n in sys.modules if n == "tests" or n.startswith("tests.")]:
            del sys.modules[name]
        root = request["root"]
        sys.path.insert(0, root)
        os.chdir(root)
        harness = importlib.import_module("tests.harness")
        run = harness.run_in_process(Path(root), request["stack"], request.get("overrides") or None)
        (out / "resources.json").write_text(json.dumps(run.resources, indent=1, default=str), encoding="utf-8")
        (out / "outputs.json").write_text(json.dumps(run.outputs, indent=1, default=str), encoding="utf-8")
        code = 0
    except BaseException:
        try:
            (out / "error.txt").write_text(traceback.format_exc(), encoding="utf-8")
        except BaseException:
            pass
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def reply(pid, status):
    ident = running.pop(pid)
    sys.stdout.write(json.dumps({"id": ident, "status": os.waitstatus_to_exitcode(status)}) + "\n")
    sys.stdout.flush()


queue, running, buffer, closed = [], {}, b"", False
stdin = sys.stdin.fileno()
while not closed or queue or running:
    while queue and len(running) < workers:
        request = queue.pop(0)
        pid = os.fork()
        if pid == 0:
            child(request)
        running[pid] = request["id"]
    if closed:  # no more requests: wait for the children still running
        reply(*os.waitpid(-1, 0))
        continue
    if running:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid:
            reply(pid, status)
            continue
    ready, _, _ = select.select([stdin], [], [], 0.01 if running else None)
    if ready:
        chunk = os.read(stdin, 65536)
        if not chunk:
            closed = True
            continue
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip():
                queue.append(json.loads(line))
'''


class ForkServer:
    """A client of the server above: `submit()` returns a Future of the child's exit status."""

    def __init__(self, python: Path, modules: list[str], workers: int) -> None:
        self._process = subprocess.Popen(
            [str(python), "-c", SERVER, str(workers), json.dumps(modules)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
        self._lock = threading.Lock()
        self._pending: dict[int, Future] = {}
        self._next = 0
        self._reader = threading.Thread(target=self._read, name="pulumi-fork-server", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            reply = json.loads(line)
            with self._lock:
                future = self._pending.pop(reply["id"], None)
            if future is not None:
                future.set_result(reply["status"])
        # The server is gone: every run still waiting fails with what it printed.
        error = self._process.stderr.read() if self._process.stderr else ""
        with self._lock:
            pending, self._pending = self._pending, {}
        for future in pending.values():
            future.set_exception(AssertionError(f"the Pulumi fork server exited:\n{error[-4000:]}"))

    def submit(self, root: Path, stack: str, out: Path, overrides: dict[str, Any] | None = None) -> Future:
        future: Future = Future()
        with self._lock:
            if self._process.poll() is not None:
                raise AssertionError(f"the Pulumi fork server exited with {self._process.returncode}")
            ident, self._next = self._next, self._next + 1
            self._pending[ident] = future
            assert self._process.stdin is not None
            request = {"id": ident, "root": str(root), "stack": stack, "out": str(out), "overrides": overrides or {}}
            self._process.stdin.write(json.dumps(request) + "\n")
            self._process.stdin.flush()
        return future

    def close(self) -> None:
        if self._process.stdin:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._process.kill()


class Runs:
    """Content-keyed runs: `get(key, start)` runs `start()` once per key, and every caller of the
    same key shares its result (or its AssertionError)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._futures: dict[Any, Future] = {}

    def get(self, key: Any, start: Callable[[], Any]) -> Any:
        with self._lock:
            future = self._futures.get(key)
            owner = future is None
            if owner:
                future = self._futures[key] = Future()
        if owner:
            try:
                future.set_result(start())
            except AssertionError as error:
                future.set_exception(error)
            except BaseException as error:  # never leave waiters hanging
                future.set_exception(error)
                raise
        return future.result()
