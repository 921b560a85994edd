"""Serving the platform with several worker processes, each with its own listening socket.

`uvicorn --workers N` shares one listening socket between its processes; when many keep-alive connections
arrive at once, the first process to wake up accepts nearly all of them and the others stay idle. Here
each worker binds its own socket to the same address with SO_REUSEPORT, so the kernel spreads new
connections evenly over the processes.

The parent process only supervises: it checks the address is free, starts the workers (`python -m
gongshu.web.serve`), forwards SIGINT/SIGTERM to them as SIGTERM (a second signal is forwarded as SIGINT,
uvicorn's "force exit"), and waits for them. A worker that dies on its own is not restarted: the parent stops the
others and exits with status 1, leaving restarts to the supervisor of the service (systemd, ...), which
also sees a crash loop for what it is.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from types import FrameType
from typing import Any

APP = "gongshu.web.app:create_app"
BACKLOG = 2048
STOP_GRACE_S = 30.0  # after a stop: how long the workers get to finish before they are killed


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str | None = None  # None: uvicorn's default
    access_log: bool = True


def _address(host: str, port: int) -> tuple[socket.AddressFamily, Any]:
    family, _, _, _, sockaddr = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    return family, sockaddr


def listening_socket(host: str, port: int, *, reuse_port: bool = True) -> socket.socket:
    """A TCP socket bound to (host, port) and listening; with `reuse_port`, other sockets of the same user
    may bind the same address and the kernel balances new connections between them."""
    family, sockaddr = _address(host, port)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(sockaddr)
        sock.listen(BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


def _watch_parent(server: Any, parent: int) -> None:
    """Stop the worker's server when its parent is gone (killed without a chance to stop the workers)."""
    while os.getppid() == parent:
        time.sleep(1.0)
    server.should_exit = True


def _worker(options: ServeOptions, parent: int) -> None:
    """One worker process: its own SO_REUSEPORT socket, one uvicorn server on it."""
    stop: list[int] = []

    def stop_requested(sig: int, frame: FrameType | None) -> None:
        # Before uvicorn's own handlers are in place (a stop while starting), and after they are gone
        # (uvicorn raises the signal that stopped it again once it is done): no KeyboardInterrupt, no
        # death by signal; the worker stops and exits with status 0.
        stop.append(sig)
        if server is not None:
            server.should_exit = True

    server: Any = None
    signal.signal(signal.SIGTERM, stop_requested)
    signal.signal(signal.SIGINT, stop_requested)
    import uvicorn

    sock = listening_socket(options.host, options.port)
    config = uvicorn.Config(
        APP,
        factory=True,
        host=options.host,
        port=options.port,
        log_level=options.log_level,
        access_log=options.access_log,
    )
    server = uvicorn.Server(config)
    server.should_exit = bool(stop)
    threading.Thread(target=_watch_parent, args=(server, parent), daemon=True).start()
    server.run(sockets=[sock])
    if not server.started:  # the application failed to start (uvicorn logged why)
        sys.exit(3)


def serve_workers(options: ServeOptions, workers: int) -> int:
    """Run `workers` worker processes on (host, port) until SIGINT/SIGTERM; returns the exit status: 0
    after a requested stop, 1 when a worker died on its own or the address is taken."""
    try:  # the address must be free: SO_REUSEPORT would otherwise share it with a stale server
        listening_socket(options.host, options.port, reuse_port=False).close()
    except OSError as exc:
        print(f"cannot listen on {options.host}:{options.port}: {exc}", file=sys.stderr)
        return 1
    # A plain interpreter per worker (not multiprocessing's spawn, which would import the command line
    # again in every worker): `python -m gongshu.web.serve OPTIONS PARENT`.
    cmd = [sys.executable, "-m", __name__, json.dumps(asdict(options)), str(os.getpid())]
    procs: list[subprocess.Popen[bytes]] = []
    signals: list[int] = []

    def forward(sig: int, frame: FrameType | None) -> None:
        signals.append(sig)
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM if len(signals) == 1 else signal.SIGINT)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    failed = False
    deadline = None
    try:
        for _ in range(workers):
            procs.append(subprocess.Popen(cmd))
            if signals:  # stopped while starting: the new one too
                procs[-1].send_signal(signal.SIGTERM)
        while any(p.poll() is None for p in procs):
            if not signals and any(p.returncode is not None for p in procs):
                dead = ", ".join(
                    f"{p.pid} exited ({p.returncode})" for p in procs if p.returncode is not None
                )
                print(f"gongshu: worker {dead}; stopping the others", file=sys.stderr)
                failed = True
                forward(signal.SIGTERM, None)
            if signals and deadline is None:
                deadline = time.monotonic() + STOP_GRACE_S
            if deadline is not None and time.monotonic() > deadline:
                break
            time.sleep(0.1)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    return 1 if failed else 0


if __name__ == "__main__":
    _worker(ServeOptions(**json.loads(sys.argv[1])), int(sys.argv[2]))
