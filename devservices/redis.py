"""Redis on 127.0.0.1:16379 without persistence (a cache/broker for tests, nothing to keep)."""

from __future__ import annotations

import os
import shutil
import socket

from .core import HOST, LOG_DIR, VAR, DevServiceError, Service, is_root, progress, run

PORT = 16379
DATA_DIR = VAR / "redis"  # redis needs a working dir even with persistence off


def _apt_install() -> None:
    if not shutil.which("apt-get"):
        raise DevServiceError(
            "redis: `redis-server` is not on PATH and there is no apt-get to install it; "
            "install Redis with your package manager (e.g. `brew install redis`)"
        )
    if not is_root():
        raise DevServiceError(
            "redis: `redis-server` is not on PATH; install it with "
            "`sudo apt-get install -y redis-server` (installing needs root)"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    what = "redis: installing the Debian package redis-server"
    try:
        run(["apt-get", "install", "-y", "redis-server"], what, timeout=600, env=env)
    except DevServiceError:
        # Usually a stale or empty package index (fresh containers ship without one).
        run(["apt-get", "update"], "redis: apt-get update", timeout=600, env=env)
        run(["apt-get", "install", "-y", "redis-server"], what, timeout=600, env=env)


def _binary() -> str | None:
    # /usr/sbin is not always on a non-root PATH; some distributions put redis-server there.
    return shutil.which("redis-server") or shutil.which("redis-server", path="/usr/sbin")


class Redis(Service):
    name = "redis"
    ports = (PORT,)
    start_timeout = 15.0

    def install(self) -> None:
        if _binary() is None:
            progress("installing redis-server with apt-get… ")
            _apt_install()
            if _binary() is None:
                raise DevServiceError("redis: apt-get ran but `redis-server` is still missing")

    def prepare(self) -> None:
        DATA_DIR.mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        return [
            _binary() or "redis-server",
            "--bind",
            HOST,
            "--port",
            str(PORT),
            "--save",
            "",  # no RDB snapshots
            "--appendonly",
            "no",
            "--daemonize",
            "no",  # we detach it ourselves and keep the pid
            "--dir",
            str(DATA_DIR),
            "--logfile",
            str(LOG_DIR / "redis.log"),
        ]

    def markers(self) -> tuple[str, ...]:
        return ("redis-server", str(PORT))

    def is_ready(self) -> bool:
        try:
            with socket.create_connection((HOST, PORT), timeout=1.0) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def env(self) -> dict[str, str]:
        return {"REDIS_URL": f"redis://{HOST}:{PORT}/0"}
