"""A stand-in for a department's own HTTP API (R7), for the demo city: the platform forwards the calls of a
confirmed service interface to it. It serves the tables of one SQLite file, read-only:

    python -m gongshu.demo.department_api --host 127.0.0.1 --port 8001 --db FILE

`GET /<table>?<column>=<value>[&…]` answers `{"rows": [...]}`: the rows whose columns equal every value
given (at most 100; at least one parameter, since a department's API verifies records, it does not hand
out its register). An unknown table or column is a 404 or 400 with `{"error": …}`; `GET /` lists the
tables and their columns. Standard library only; `scripts/run-demo.sh` starts it beside the platform."""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import sys
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

MAX_ROWS = 100
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class QueryError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _connect(db: Path) -> sqlite3.Connection:
    """The file, read-only (never created, never written)."""
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    return conn


def tables(db: Path) -> dict[str, list[str]]:
    """Table name → its columns."""
    conn = _connect(db)
    try:
        names = [
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        ]
        return {n: [c[1] for c in conn.execute(f'PRAGMA table_info("{n}")')] for n in names if _NAME.match(n)}
    finally:
        conn.close()


def query(db: Path, table: str, params: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """The rows of `table` whose columns equal every (column, value) of `params`."""
    columns = tables(db).get(table)
    if columns is None:
        raise QueryError(404, f"no table {table}")
    if not params:
        raise QueryError(400, f"give at least one of: {', '.join(columns)}")
    unknown = sorted({k for k, _ in params if k not in columns})
    if unknown:
        raise QueryError(400, f"unknown parameters: {', '.join(unknown)}")
    where = " AND ".join(f'"{k}" = ?' for k, _ in params)
    conn = _connect(db)
    try:
        cur = conn.execute(
            f'SELECT * FROM "{table}" WHERE {where} ORDER BY rowid LIMIT {MAX_ROWS}', [v for _, v in params]
        )
        return [dict(r) for r in cur]
    finally:
        conn.close()


def make_server(host: str, port: int, db: Path) -> ThreadingHTTPServer:
    """The API's server (port 0: any free port); the caller runs `serve_forever`."""
    db = Path(db)
    if not db.is_file():
        raise FileNotFoundError(db)

    class Handler(BaseHTTPRequestHandler):
        server_version = "gongshu-demo-department-api"

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            table = parts.path.strip("/")
            try:
                if not table:
                    self._send(200, {"tables": tables(db)})
                    return
                params = parse_qsl(parts.query, keep_blank_values=True)
                self._send(200, {"rows": query(db, table, params)})
            except QueryError as exc:
                self._send(exc.status, {"error": exc.message})
            except sqlite3.Error as exc:
                self._send(500, {"error": type(exc).__name__})

        def log_message(self, format: str, *args: Any) -> None:
            sys.stderr.write(f"department-api {self.address_string()} {format % args}\n")

    return ThreadingHTTPServer((host, port), Handler)


def _watch_parent(server: ThreadingHTTPServer, every: float = 1.0) -> None:
    """Shut the server down once its parent has gone (the child is then re-parented)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        server.shutdown()

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gongshu.demo.department_api", description="The demo's stand-in department API (R7)"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--db", required=True, type=Path, help="the department's SQLite file")
    parser.add_argument(
        "--exit-with-parent",
        action="store_true",
        help="stop when the process that started it ends (run-demo.sh: the platform, which it execs into)",
    )
    args = parser.parse_args(argv)
    try:
        server = make_server(args.host, args.port, args.db)
    except FileNotFoundError:
        parser.error(f"no such file: {args.db}")
    except OSError as exc:
        parser.error(f"cannot listen on {args.host}:{args.port}: {exc.strerror}")
    print(f"department API on http://{args.host}:{args.port}/ ({args.db})", flush=True)
    if args.exit_with_parent:
        _watch_parent(server)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
