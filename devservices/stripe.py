"""stripe-mock (Stripe's official API mock) on 127.0.0.1:12111 (HTTP) and :12112 (HTTPS)."""

from __future__ import annotations

import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from .core import HOST, DevServiceError, Service, progress, run

HTTP_PORT = 12111
HTTPS_PORT = 12112
API_BASE = f"http://{HOST}:{HTTP_PORT}"
API_KEY = "sk_test_123"  # stripe-mock accepts any sk_test_ key
MODULE = "github.com/stripe/stripe-mock@latest"


def _go_bin_dir() -> Path | None:
    """Where `go install` puts binaries: $GOBIN, else $(go env GOPATH)/bin."""
    if shutil.which("go") is None:
        return None
    out = subprocess.run(
        ["go", "env", "GOBIN", "GOPATH"], capture_output=True, text=True, timeout=30
    ).stdout.splitlines()
    gobin, gopath = (out + ["", ""])[:2]
    if gobin:
        return Path(gobin)
    return Path(gopath.split(":")[0]) / "bin" if gopath else None


def _binary() -> Path | None:
    bin_dir = _go_bin_dir()
    if bin_dir is not None and (bin_dir / "stripe-mock").exists():
        return bin_dir / "stripe-mock"
    found = shutil.which("stripe-mock")
    return Path(found) if found else None


class Stripe(Service):
    name = "stripe"
    ports = (HTTP_PORT, HTTPS_PORT)
    start_timeout = 30.0

    def install(self) -> None:
        if _binary() is not None:
            return
        if shutil.which("go") is None:
            raise DevServiceError(
                "stripe: `stripe-mock` is not installed and the Go toolchain (`go`) is not on PATH "
                f"to build it; install Go, then `go install {MODULE}`"
            )
        progress("go install stripe-mock… ")
        run(["go", "install", MODULE], "stripe: go install stripe-mock", timeout=900)
        if _binary() is None:
            raise DevServiceError(f"stripe: `go install {MODULE}` ran but left no binary")

    def command(self) -> list[str]:
        return [
            str(_binary()),
            "-http-addr",
            f"{HOST}:{HTTP_PORT}",  # the -http-port flag would bind all interfaces
            "-https-addr",
            f"{HOST}:{HTTPS_PORT}",
        ]

    def markers(self) -> tuple[str, ...]:
        return ("stripe-mock", f"{HOST}:{HTTP_PORT}")

    def is_ready(self) -> bool:
        request = urllib.request.Request(
            f"{API_BASE}/v1/customers", headers={"Authorization": f"Bearer {API_KEY}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=2.0) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def env(self) -> dict[str, str]:
        return {"STRIPE_API_BASE": API_BASE, "STRIPE_API_KEY": API_KEY}
