"""Sign in, sign out, password reset, the language switcher (Django test client)."""

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from .conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_a_page_needs_a_login_and_the_login_leads_to_the_customers_dashboard(world, acme_user):
    client = Client()
    page = client.get(reverse("portal:dashboard", args=["acme"]))
    assert page.status_code == 302
    assert page["Location"].startswith(reverse("portal:login"))

    signed_in = client.post(
        reverse("portal:login"), {"username": "alice", "password": PASSWORD}, follow=True
    )
    assert signed_in.redirect_chain[-1][0] == reverse("portal:dashboard", args=["acme"])
    assert b'id="available"' in signed_in.content


def test_a_wrong_password_is_refused_on_the_page(world, acme_user):
    client = Client()
    answer = client.post(reverse("portal:login"), {"username": "alice", "password": "nope"})
    assert answer.status_code == 200
    assert b"errorlist" in answer.content
    assert "_auth_user_id" not in client.session


def test_sign_out_is_a_post_and_ends_the_session(acme_client):
    assert acme_client.get(reverse("portal:logout")).status_code == 405
    answer = acme_client.post(reverse("portal:logout"))
    assert answer.status_code == 302
    page = acme_client.get(reverse("portal:dashboard", args=["acme"]))
    assert page.status_code == 302 and page["Location"].startswith(reverse("portal:login"))


def test_password_reset_mails_a_link_that_sets_a_new_password(world, acme_user):
    client = Client()
    sent = client.post(reverse("portal:password_reset"), {"email": "alice@acme.example"})
    assert sent.status_code == 302 and sent["Location"] == reverse("portal:password_reset_done")
    # An address no login has gets the same answer, and no mail.
    other = client.post(reverse("portal:password_reset"), {"email": "nobody@example.com"})
    assert other["Location"] == reverse("portal:password_reset_done")
    assert len(mail.outbox) == 1
    (link,) = re.findall(r"https?://[^/]+(/portal/password-reset/[^\s]+)", mail.outbox[0].body)

    form = client.get(link, follow=True)
    assert form.status_code == 200 and b"new_password1" in form.content
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "a-brand-new-pw-77", "new_password2": "a-brand-new-pw-77"},
    )
    assert done["Location"] == reverse("portal:password_reset_complete")
    assert Client().login(username="alice", password="a-brand-new-pw-77")
    # The link works once.
    again = client.get(link, follow=True)
    assert b"new_password1" not in again.content


def test_the_language_switcher_turns_the_pages_chinese_and_back(acme_client):
    url = reverse("portal:dashboard", args=["acme"])
    assert "可用余额" not in acme_client.get(url).content.decode()
    switched = acme_client.post(
        reverse("portal:set_language"), {"language": "zh-hans", "next": url}, follow=True
    )
    page = switched.content.decode()
    assert switched.redirect_chain[-1][0] == url
    assert '<html lang="zh-hans">' in page and "可用余额" in page and "退出登录" in page
    back = acme_client.post(
        reverse("portal:set_language"), {"language": "en", "next": url}, follow=True
    )
    assert "Available balance" in back.content.decode()


def test_the_browsers_language_picks_chinese_until_the_switcher_says_otherwise(acme_client):
    url = reverse("portal:dashboard", args=["acme"])
    page = acme_client.get(url, HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9")
    assert "可用余额" in page.content.decode()


def test_the_api_stays_english_whatever_the_browser_asks(world, acme_client):
    # The portal's language middleware acts under /portal/ only: a DRF error keeps its
    # English message for a client whose Accept-Language is Chinese.
    acme_client.get(reverse("portal:dashboard", args=["acme"]), HTTP_ACCEPT_LANGUAGE="zh-hans")
    answer = acme_client.get("/api/wallets/customers/nope/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert answer.status_code == 404
    assert answer.json()["error"]["message"].isascii()


def test_home_opens_the_only_customer_or_lists_them_or_says_there_is_none(world):
    from django.contrib.auth.models import User

    from wallets import services

    from .conftest import member

    both = member(world["acme"], "erin")
    services.customer_member_add(customer=world["globex"], user=both, actor="test")
    client = Client()
    client.force_login(both)
    listed = client.get(reverse("portal:home"))
    assert listed.status_code == 200
    assert [c.external_id for c in listed.context["customers"]] == ["acme", "globex"]
    nobody = Client()
    nobody.force_login(User.objects.create_user("frank", password=PASSWORD))
    alone = nobody.get(reverse("portal:home"))
    assert alone.status_code == 200 and alone.context["customers"] == []
    assert "not a member of any account" in alone.content.decode()
    assert nobody.get(reverse("portal:dashboard", args=["acme"])).status_code == 404
