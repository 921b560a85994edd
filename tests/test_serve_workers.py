"""`gongshu serve --workers N`: every worker has its own SO_REUSEPORT socket, so the kernel spreads the
connections over them (one shared socket let one process accept nearly all of a burst); the parent stops
them all on SIGTERM, and stops the others and fails when one dies on its own.

The evidence comes from /proc, without changing the application: which of the parent's children holds
the listening sockets and the established connections of the port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

GONGSHU = Path(sys.executable).parent / "gongshu"
CONNECTIONS = 40
LISTEN, ESTABLISHED = "0A", "01"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _sockets(pid: int, port: int) -> dict[str, int]:
    """How many TCP sockets of local port `port` process `pid` holds, by state."""
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                link = os.readlink(fd)
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    except OSError:
        return {}
    states: dict[str, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[9] in inodes:
                states[fields[3]] = states.get(fields[3], 0) + 1
    return states


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, list[int]]]:
    """`gongshu serve --workers 2` on a free port and a fresh data folder, once both workers listen."""
    port = _free_port()
    env = os.environ | {
        "GONGSHU_DATA_DIR": str(tmp_path),
        "GONGSHU_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "GONGSHU_BACKGROUND": "external",
    }
    cmd = [str(GONGSHU), "serve", "--workers", "2", "--port", str(port), "--no-access-log"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        workers: list[int] = []
        while time.monotonic() < deadline and proc.poll() is None:
            workers = [c for c in _children(proc.pid) if _sockets(c, port).get(LISTEN)]
            if len(workers) == 2:
                break
            time.sleep(0.1)
        assert len(workers) == 2, "the two workers did not listen"
        yield proc, port, workers
    finally:
        if proc.poll() is None:  # a failed test: the parent and its children go
            children = _children(proc.pid)
            proc.kill()
            proc.wait()
            for child in children:
                if _alive(child):
                    os.kill(child, signal.SIGKILL)


def _gone(pids: list[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(_alive(p) for p in pids):
            return True
        time.sleep(0.1)
    return False


def test_serve_workers_share_connections(server: tuple[subprocess.Popen[bytes], int, list[int]]) -> None:
    proc, port, workers = server
    clients = [httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) for _ in range(CONNECTIONS)]
    try:
        assert all(c.get("/healthz").status_code == 200 for c in clients)  # queued until a worker is up
        held = {w: _sockets(w, port).get(ESTABLISHED, 0) for w in workers}  # kept alive, not closed
    finally:
        for c in clients:
            c.close()
    assert sum(held.values()) == CONNECTIONS, held
    assert all(n >= 5 for n in held.values()), f"one worker took nearly all the connections: {held}"

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0
    assert _gone(workers, 5), "a worker outlived the parent"


def test_serve_workers_stop_when_one_dies(server: tuple[subprocess.Popen[bytes], int, list[int]]) -> None:
    proc, _, workers = server
    os.kill(workers[0], signal.SIGKILL)
    assert proc.wait(timeout=15) == 1
    assert _gone(workers, 5), "the other worker outlived the parent"
