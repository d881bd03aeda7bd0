"""Webhooks' settings: private addresses are refused unless a setting allows them (only
the local and test settings do), and the timeout is parsed strictly."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.settings import base, local
from config.settings import test as test_settings
from config.settings.env import env_float


def test_only_local_and_test_settings_allow_private_addresses(monkeypatch):
    assert base.WEBHOOK_ALLOW_PRIVATE is False  # production imports base and keeps it
    assert local.WEBHOOK_ALLOW_PRIVATE is True and test_settings.WEBHOOK_ALLOW_PRIVATE is True
    assert base.WEBHOOK_TIMEOUT_S == 5.0 and base.WEBHOOK_MAX_ATTEMPTS == 8
    assert base.CELERY_BEAT_SCHEDULE["webhooks-deliver-due"] == {
        "task": "webhooks.deliver_due",
        "schedule": 60.0,
    }


@pytest.mark.parametrize("raw", ["5s", "nan", "inf", ""])
def test_the_timeout_is_a_finite_number(monkeypatch, raw):
    monkeypatch.setenv("WEBHOOK_TIMEOUT_S", raw)
    with pytest.raises(ImproperlyConfigured, match="WEBHOOK_TIMEOUT_S"):
        env_float("WEBHOOK_TIMEOUT_S", 5.0)


def test_a_fractional_timeout_is_read(monkeypatch):
    monkeypatch.setenv("WEBHOOK_TIMEOUT_S", "0.5")
    assert env_float("WEBHOOK_TIMEOUT_S", 5.0) == 0.5
