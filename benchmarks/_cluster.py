"""A multi-process deployment for tests and benchmarks: `itsm-ai serve` and `itsm-ai worker` processes on one
database, each on a free port, started as real subprocesses (the way a deployment runs them)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
SECRET = "cluster-secret-key-that-is-long-enough-for-hs256"


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Process:
    """One started process: its role, port (API) and log file."""

    name: str
    popen: subprocess.Popen
    log: Path
    port: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Cluster:
    """API and worker processes sharing one database and models folder; `stop()` ends every one."""

    database_url: str
    root: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, Process] = field(default_factory=dict)
    nice: int = 0

    def env(self, name: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ITSM_")}
        env.update(
            {
                "ITSM_DATABASE_URL": self.database_url,
                "ITSM_DATA_DIR": str(self.root / "var"),
                "ITSM_MODELS_DIR": str(self.root / "models"),
                # Each API process keeps its own copy of the retrieval index (the database is the truth).
                "ITSM_KNOWLEDGE_INDEX_DIR": str(self.root / f"index-{name}"),
                "ITSM_SECRET_KEY": SECRET,
                "ITSM_KNOWLEDGE_ENCODER": "hash",
                "ITSM_WORKER_IN_PROCESS": "false",
                "ITSM_PASSWORD_HASH_TIME_COST": "1",
                "ITSM_PASSWORD_HASH_MEMORY_KIB": "1024",
                "ITSM_WORKER_INTERVAL_SECONDS": "1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        return env

    def _spawn(self, name: str, args: list[str], port: int | None = None) -> Process:
        self.root.mkdir(parents=True, exist_ok=True)
        log = self.root / f"{name}.log"
        prefix = ["nice", "-n", str(self.nice)] if self.nice else []
        with log.open("ab") as out:
            popen = subprocess.Popen(
                [*prefix, sys.executable, "-m", "itsm_ai.cli", *args],
                cwd=REPO,
                env=self.env(name),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        process = Process(name, popen, log, port)
        self.processes[name] = process
        return process

    def start_api(
        self, name: str, *, workers: int = 1, port: int | None = None, timeout: float = 90.0
    ) -> Process:
        """Start `itsm-ai serve` (on a free port unless given) and wait until /health answers."""
        port = port or free_port()
        args = ["serve", "--host", "127.0.0.1", "--port", str(port)]
        if workers > 1:
            args += ["--workers", str(workers)]
        process = self._spawn(name, args, port)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not process.alive():
                raise RuntimeError(f"{name} exited:\n{process.log_text()[-3000:]}")
            try:
                if httpx.get(f"{process.url}/health", timeout=2).status_code == 200:
                    return process
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{name} did not answer in {timeout} s:\n{process.log_text()[-3000:]}")

    def start_worker(self, name: str, *args: str, timeout: float = 60.0) -> Process:
        """Start `itsm-ai worker` and wait until it says it runs."""
        process = self._spawn(name, ["worker", *args])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not process.alive():
                raise RuntimeError(f"{name} exited:\n{process.log_text()[-3000:]}")
            if "worker running" in process.log_text():
                return process
            time.sleep(0.2)
        raise RuntimeError(f"{name} did not start in {timeout} s:\n{process.log_text()[-3000:]}")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send a signal to the process (its whole group: uvicorn's workers too) and wait for it."""
        process = self.processes.pop(name)
        try:
            os.killpg(process.popen.pid, sig)
        except ProcessLookupError:
            pass
        try:
            process.popen.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.popen.pid, signal.SIGKILL)
            process.popen.wait(10)

    def stop(self) -> None:
        """End every process: SIGTERM, then SIGKILL for one that does not stop."""
        for name in list(self.processes):
            self.kill(name, signal.SIGTERM)

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
