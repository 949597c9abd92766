"""Python tools run from a process that imported them once.

The conformance suite runs three Python tools many times: the generated foundation's Pulumi
harness (`python -m tests.harness`, which imports the Pulumi AWS, EKS and Kubernetes SDKs),
checkov and parliament. Each spends most of a run importing itself. A *fork server* does that
once: a single-threaded Python process of the tool's own venv imports the modules, then forks
one child per run. The child runs the tool the way its command line does (`python -m MODULE`,
the console script, or `python -c CODE`), with the run's working directory, arguments, stdin
and environment, its stdout and stderr in files, and exits with the tool's exit status. So a run
is the real tool on the real input, minus the import.

The child drops the modules a run must import afresh (`fresh`: for the harness, the
foundation's own `tests` package) and, like `python -m`, puts the working directory first on
`sys.path`.

The protocol, one JSON object per line:
    request  (stdin):  {"id": N, "cwd": DIR, "argv": [...], "module" | "script" | "code": ...,
                        "stdin": FILE?, "out": DIR, "env": {...}, "fresh": [...]}
    reply    (stdout): {"id": N, "status": EXIT_CODE}
The child writes `OUT/stdout` and `OUT/stderr`.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Mapping

# The server: reads requests, forks a child per run (at most WORKERS at a time), replies when a
# child ends. Single-threaded on purpose: forking a process that runs threads is unsafe.
SERVER = r'''
import importlib, json, os, runpy, select, sys, traceback, warnings

workers, modules = int(sys.argv[1]), json.loads(sys.argv[2])
sys.argv = sys.argv[:1]  # no module sees the server's arguments as its own


def imports_of(name):
    """The modules `name` imports at its top level, without running it (`deps:NAME`): for a tool
    whose main module captures `sys.argv` when it is imported (checkov's `Checkov(argv=...)`)."""
    import ast, importlib.util

    tree = ast.parse(open(importlib.util.find_spec(name).origin, encoding="utf-8").read())
    for node in tree.body:
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


for module in modules:
    for name in (imports_of(module[5:]) if module.startswith("deps:") else [module]):
        # The Pulumi SDKs' packages load lazily, on their first attribute access: touch one, or
        # every child loads (and compiles) them again.
        getattr(importlib.import_module(name), "__loaded_by_the_fork_server__", None)
sys.stdout.flush()
sys.stderr.flush()


def child(request):
    code = 1
    try:
        out = request["out"]
        for fd, name, flags in ((1, "stdout", os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                                (2, "stderr", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)):
            os.dup2(os.open(os.path.join(out, name), flags, 0o644), fd)
        os.dup2(os.open(request.get("stdin") or os.devnull, os.O_RDONLY), 0)
        sys.stdin = open(0, "r", closefd=False)
        sys.stdout = open(1, "w", closefd=False)
        sys.stderr = open(2, "w", closefd=False)
        os.environ.update(request.get("env") or {})
        os.chdir(request["cwd"])
        fresh = tuple(request.get("fresh") or ())
        for name in [n for n in sys.modules if n in fresh or n.startswith(tuple(f + "." for f in fresh))]:
            del sys.modules[name]
        sys.path.insert(0, request["cwd"])
        if "module" in request:
            sys.argv = [request["module"], *request["argv"]]
            runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
        elif "script" in request:
            sys.argv = [request["script"], *request["argv"]]
            runpy.run_path(request["script"], run_name="__main__")
        else:
            sys.argv = ["-c", *request["argv"]]
            exec(compile(request["code"], "<string>", "exec"), {"__name__": "__main__"})
        code = 0
    except SystemExit as exit:
        code = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
        if not isinstance(exit.code, (int, type(None))):
            print(exit.code, file=sys.stderr)
    except BaseException:
        traceback.print_exc()
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
    """A client of the server above: `run()` is `subprocess.run` of one tool run, minus the import."""

    def __init__(self, python: Path, modules: list[str], workers: int, what: str,
                 env: Mapping[str, str] | None = None) -> None:
        self.what = what
        self._process = subprocess.Popen(
            [str(python), "-c", SERVER, str(workers), json.dumps(modules)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
            env={**os.environ, **(env or {})},
        )
        self._lock = threading.Lock()
        self._pending: dict[int, Future] = {}
        self._next = 0
        threading.Thread(target=self._read, name=f"fork-server-{what}", daemon=True).start()

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
            future.set_exception(AssertionError(f"the fork server of {self.what} exited:\n{error[-4000:]}"))

    def run(self, argv: list[str | Path], cwd: Path, *, module: str | None = None, script: Path | None = None,
            code: str | None = None, input: str | None = None, env: Mapping[str, str] | None = None,
            fresh: tuple[str, ...] = (), timeout: float = 600) -> subprocess.CompletedProcess:
        """Run the tool once (as `python -m MODULE ARGV`, `SCRIPT ARGV` or `python -c CODE ARGV`)."""
        (kind, target), = [(k, v) for k, v in (("module", module), ("script", script), ("code", code)) if v]
        with tempfile.TemporaryDirectory(prefix="strata-fork-") as scratch:
            request: dict[str, Any] = {"cwd": str(cwd), "argv": [str(a) for a in argv], kind: str(target),
                                       "out": scratch, "env": dict(env or {}), "fresh": list(fresh)}
            if input is not None:
                (Path(scratch) / "stdin").write_text(input, encoding="utf-8")
                request["stdin"] = str(Path(scratch) / "stdin")
            future: Future = Future()
            with self._lock:
                if self._process.poll() is not None:
                    raise AssertionError(f"the fork server of {self.what} exited with {self._process.returncode}")
                request["id"], self._next = self._next, self._next + 1
                self._pending[request["id"]] = future
                assert self._process.stdin is not None
                self._process.stdin.write(json.dumps(request) + "\n")
                self._process.stdin.flush()
            status = future.result(timeout=timeout)
            stdout = (Path(scratch) / "stdout").read_text(encoding="utf-8", errors="replace")
            stderr = (Path(scratch) / "stderr").read_text(encoding="utf-8", errors="replace")
        label = [f"python -m {module}" if module else str(script or "python -c ..."), *map(str, argv)]
        return subprocess.CompletedProcess(label, status, stdout, stderr)

    def close(self) -> None:
        if self._process.stdin:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._process.kill()


class Servers:
    """The session's fork servers, one per tool, started on first use and closed together."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._servers: dict[str, ForkServer] = {}

    def get(self, what: str, python: Path, modules: list[str], workers: int,
            env: Mapping[str, str] | None = None) -> ForkServer:
        """The server of `what` (its environment is the tool's for the whole session)."""
        with self._lock:
            if what not in self._servers:
                self._servers[what] = ForkServer(python, modules, workers, what, env)
            return self._servers[what]

    def close(self) -> None:
        with self._lock:
            servers, self._servers = list(self._servers.values()), {}
        for server in servers:
            server.close()


class Once:
    """Content-keyed results: `get(key, start)` runs `start()` once per key; every caller of the
    same key shares its result (or its AssertionError), a caller that comes while it runs waits."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._futures: dict[Any, Future] = {}

    def get(self, key: Any, start) -> Any:
        with self._lock:
            future = self._futures.get(key)
            owner = future is None
            if owner:
                future = self._futures[key] = Future()
        if owner:
            try:
                future.set_result(start())
            except BaseException as error:
                future.set_exception(error)
                if not isinstance(error, AssertionError):
                    raise
        return future.result()
