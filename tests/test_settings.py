"""Settings: production passes Django's deployment checks; env overrides are parsed strictly."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.settings.env import env_bool, env_int, env_list

REPO_ROOT = Path(__file__).resolve().parent.parent


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env=dict(os.environ, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_check_deploy_without_warnings():
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_SETTINGS_MODULE="config.settings.production",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="ledger.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_the_development_secret_key():
    result = _manage(
        "check",
        DJANGO_SETTINGS_MODULE="config.settings.production",
        SECRET_KEY="insecure-development-key-change-me",
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_env_parsing_is_strict(monkeypatch):
    monkeypatch.setenv("SOME_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="not a boolean"):
        env_bool("SOME_FLAG", False)
    monkeypatch.setenv("SOME_NUMBER", "12x")
    with pytest.raises(ImproperlyConfigured, match="not an integer"):
        env_int("SOME_NUMBER", 1)
    monkeypatch.setenv("SOME_LIST", "a, b,,c")
    assert env_list("SOME_LIST", []) == ["a", "b", "c"]
    monkeypatch.setenv("SOME_FLAG", "Off")
    assert env_bool("SOME_FLAG", True) is False


def test_local_settings_use_stripe_mock_and_a_demo_webhook_secret_the_key_from_the_env():
    """`make run` (scripts/run.sh) exports stripe-mock's key once it runs; without one the
    local settings leave Stripe off (top-ups answer 503 stripe_not_configured)."""
    show = (
        "from django.conf import settings as s; "
        "print(repr(s.STRIPE_API_KEY), s.STRIPE_API_BASE, bool(s.STRIPE_WEBHOOK_SECRET))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRIPE_")}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings.local"
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", show],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["''", "http://127.0.0.1:12111", "True"]
    given = _manage(
        "shell",
        "--no-imports",
        "-c",
        show,
        DJANGO_SETTINGS_MODULE="config.settings.local",
        STRIPE_API_KEY="sk_test_123",
    )
    assert given.stdout.split()[0] == "'sk_test_123'"
