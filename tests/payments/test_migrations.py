"""Payments' models left wallets (wallets 0010, payments 0001..0002): what a database
migrated before the move had granted on them still holds."""

import importlib

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, Permission, User
from django.contrib.contenttypes.models import ContentType

pytestmark = pytest.mark.django_db

initial = importlib.import_module("payments.migrations.0001_initial")


@pytest.fixture(autouse=True)
def _content_type_cache_cleared():
    """The test's rows roll back; ContentType's process cache must not keep them."""
    yield
    ContentType.objects.clear_cache()


def test_content_types_move_with_the_models_so_grants_hold():
    # As before the move: the permission hangs on wallets' content type, granted to a group.
    ContentType.objects.filter(app_label="payments", model="stripecustomer").delete()
    old = ContentType.objects.create(app_label="wallets", model="stripecustomer")
    view = Permission.objects.create(
        content_type=old, codename="view_stripecustomer", name="Can view stripe customer"
    )
    group = Group.objects.create(name="payers")
    group.permissions.add(view)
    user = User.objects.create_user("payer")
    user.groups.add(group)
    assert user.has_perm("wallets.view_stripecustomer")

    initial.content_types_to_payments(apps, None)

    moved = ContentType.objects.get(pk=old.pk)
    assert (moved.app_label, moved.model) == ("payments", "stripecustomer")
    assert User.objects.get(pk=user.pk).has_perm("payments.view_stripecustomer")
    # A model whose payments content type exists already keeps it; nothing else moves.
    assert ContentType.objects.filter(app_label="payments", model="topup").count() == 1
    assert not ContentType.objects.filter(app_label="wallets", model__in=initial.MOVED_MODELS)

    initial.content_types_to_wallets(apps, None)
    assert ContentType.objects.get(pk=old.pk).app_label == "wallets"
