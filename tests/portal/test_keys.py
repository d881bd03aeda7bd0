"""API keys in the portal: the secret shown once, limits and allow-list, revoke."""

import pytest
from django.test import Client
from django.urls import reverse

from wallets import services
from wallets.models import ApiKey
from wallets.selectors import api_key_get_by_secret

from .conftest import member

pytestmark = pytest.mark.django_db
NANOS = 10**9


def test_a_new_keys_secret_is_shown_once_and_works(acme_client):
    url = reverse("portal:keys", args=["acme"])
    created = acme_client.post(
        url,
        {
            "name": "production",
            "daily_limit": "5",
            "monthly_limit": "",
            "total_limit": "100.50",
            "allowed_models": "gpt-4o, claude-sonnet-4-5\ndeepseek-chat",
        },
    )
    assert created.status_code == 200
    assert "no-store" in created["Cache-Control"]
    secret = created.context["secret"]
    assert secret.startswith("sk_live_") and secret in created.content.decode()
    key = ApiKey.objects.get()
    assert api_key_get_by_secret(raw=secret).pk == key.pk
    assert (key.name, key.daily_limit_minor, key.monthly_limit_minor, key.total_limit_minor) == (
        "production",
        5 * NANOS,
        None,
        100_500_000_000,
    )
    assert key.allowed_models == ["claude-sonnet-4-5", "deepseek-chat", "gpt-4o"]
    assert key.created_by == "user:alice"
    # Never again: the list shows the prefix only.
    listed = acme_client.get(url).content.decode()
    assert secret not in listed and f"sk_live_{key.prefix}_…" in listed


def test_limits_and_allow_list_are_changed_and_a_key_revoked(acme_client, world):
    key, _secret = services.api_key_create(customer=world["acme"], name="dev", actor="test")
    edit = reverse("portal:key_edit", args=["acme", key.pk])
    assert acme_client.get(edit).status_code == 200
    changed = acme_client.post(
        edit, {"name": "dev", "monthly_limit": "20", "allowed_models": "gpt-4o"}
    )
    assert changed.status_code == 302
    key.refresh_from_db()
    assert (key.monthly_limit_minor, key.daily_limit_minor, key.allowed_models) == (
        20 * NANOS,
        None,
        ["gpt-4o"],
    )
    bad = acme_client.post(edit, {"name": "dev", "daily_limit": "-1"})
    assert bad.status_code == 400 and "errorlist" in bad.content.decode()
    revoked = acme_client.post(reverse("portal:key_revoke", args=["acme", key.pk]))
    assert revoked.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None and key.revoked_by == "user:alice"
    assert acme_client.get(edit).status_code == 404  # a revoked key has no edit page
    assert acme_client.get(reverse("portal:key_revoke", args=["acme", key.pk])).status_code == 405


def test_another_customers_key_is_404_through_either_customers_url(acme_client, world):
    theirs, _ = services.api_key_create(customer=world["globex"], name="theirs", actor="test")
    for url in (
        reverse("portal:key_edit", args=["acme", theirs.pk]),
        reverse("portal:key_edit", args=["globex", theirs.pk]),
    ):
        assert acme_client.get(url).status_code == 404
        assert acme_client.post(url, {"name": "mine now"}).status_code == 404
    for url in (
        reverse("portal:key_revoke", args=["acme", theirs.pk]),
        reverse("portal:key_revoke", args=["globex", theirs.pk]),
    ):
        assert acme_client.post(url).status_code == 404
    assert (
        acme_client.post(reverse("portal:keys", args=["globex"]), {"name": "x"}).status_code == 404
    )
    theirs.refresh_from_db()
    assert theirs.name == "theirs" and theirs.revoked_at is None
    assert ApiKey.objects.count() == 1
    # A login that is a member of both still cannot reach globex's key through acme's URL.
    both = member(world["acme"], "dana")
    services.customer_member_add(customer=world["globex"], user=both, actor="test")
    client = Client()
    client.force_login(both)
    assert client.get(reverse("portal:key_edit", args=["acme", theirs.pk])).status_code == 404
    assert client.get(reverse("portal:key_edit", args=["globex", theirs.pk])).status_code == 200
