"""A throwaway PostgreSQL server for the gradebook tests: Debian's ``postgresql`` package,
``initdb`` in a temporary folder, listening only on a Unix socket in that folder.

    with PostgresServer.start() as server:   # skips the test when there is no PostgreSQL
        url = server.create_database("gradebook")

As root, the server runs as the package's ``postgres`` user (PostgreSQL refuses root),
and the folder is made theirs.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from convtrain.instructor.grading.gradebook import pg_tool


def missing_reason() -> str | None:
    """Why no server can be started here, or None."""
    for tool in ("initdb", "pg_ctl", "createdb", "pg_dump"):
        if pg_tool(tool) is None:
            return (f"PostgreSQL's {tool} was not found (on PATH or /usr/lib/postgresql/*/bin): "
                    "apt-get install postgresql")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run the server as"
        if shutil.which("runuser") is None:
            return "running as root and runuser (util-linux) is missing"
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        return "psycopg2 is not installed (pip install psycopg2-binary)"
    return None


class PostgresServer:
    def __init__(self, folder: Path):
        self.folder = folder
        self.data = folder / "data"
        self.socket_dir = folder  # short: a Unix socket's path has at most 107 characters

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess:
        command = [pg_tool(tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True,
                              cwd=self.folder)

    @classmethod
    def start(cls) -> PostgresServer:
        folder = Path(tempfile.mkdtemp(prefix="cvpg-"))
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(folder, user.pw_uid, user.pw_gid)
        server = cls(folder)
        server._run("initdb", "-D", str(server.data), "-U", "postgres", "--auth=trust",
                    "-E", "UTF8", "--no-sync")
        server._run("pg_ctl", "-D", str(server.data), "-l", str(folder / "server.log"), "-w",
                    "-o", f"-k {folder} -c listen_addresses='' -c fsync=off", "start")
        return server

    def url(self, database: str) -> str:
        return f"postgresql://postgres@/{database}?host={self.socket_dir}"

    def create_database(self, name: str) -> str:
        self._run("createdb", "-h", str(self.socket_dir), "-U", "postgres", name)
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
