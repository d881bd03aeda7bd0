"""README "Connect your gateway" stays true: its commands run against the demo's data.

The curl requests go through Django's test client exactly as written (method, URL path,
headers, body; `$NAME` shell variables substituted from earlier commands, whose
`| python3 -c '...'` extractor runs as written); heredocs are written to files and
`manage.py` commands called; the LiteLLM proxy's settings (config.yaml and environment)
are read the way LiteLLM's generic_api callback reads them and its records posted.
"""

import io
import json
import re
import shlex
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from django.core.management import call_command
from django.test import Client

from ledger.integrity import verify_ledger
from ledger.selectors import trial_balance_list
from metering import ingest, rating
from metering.models import DeadLetter, UsageRecord
from tests.metering.test_native_ingest import litellm_record
from wallets import selectors as wallets_selectors
from wallets.models import Authorization

pytestmark = pytest.mark.django_db

README = Path(__file__).resolve().parents[2] / "README.md"
BASE_URL = "http://127.0.0.1:8000"
UNRATEABLE = "upstream_price_not_found"  # the code the README names


def _section() -> str:
    text = README.read_text()
    start = text.index("## Connect your gateway\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", _section(), re.S)


def _commands(block: str) -> list[str]:
    """Shell commands as written: continuation lines and quoted newlines joined, comments
    dropped, a heredoc (`cat > file <<'TAG'` ... `TAG`) kept whole."""
    commands, pending, heredoc = [], "", None
    for line in block.splitlines():
        if heredoc is not None:
            pending += line + "\n"
            if line == heredoc:
                commands.append(pending)
                pending, heredoc = "", None
            continue
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line + "\n"
        opened = re.match(r"cat > \S+ <<'(\w+)'$", line)
        if opened:
            heredoc = opened.group(1)
            continue
        if line.endswith("\\"):
            continue
        try:
            shlex.split(pending)
        except ValueError:  # an open quote: the command goes on
            continue
        commands.append(pending)
        pending = ""
    assert not pending and heredoc is None, pending
    return commands


def _meta(headers: dict[str, str]) -> dict[str, str]:
    return {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}


def _curl(command: str, variables: dict[str, str], client: Client):
    for name, value in variables.items():
        command = command.replace(f"${name}", value)
    args = shlex.split(command.replace("\\\n", " "))
    assert args[0] == "curl", args
    method, headers, body, url = "GET", {}, None, None
    options = iter(args[1:])
    for arg in options:
        if arg == "-s":
            continue
        if arg == "-X":
            method = next(options)
        elif arg == "-H":
            name, _, value = next(options).partition(":")
            headers[name.strip()] = value.strip()
        elif arg == "-d":
            body = next(options)
            method = "POST" if method == "GET" else method
        else:
            assert url is None and arg.startswith(BASE_URL), arg
            url = arg
    content_type = headers.pop("Content-Type", "application/octet-stream")
    return client.generic(
        method, url.removeprefix(BASE_URL), body or "", content_type, **_meta(headers)
    )


@pytest.fixture
def demo(settings):
    settings.DEBUG = True  # seed_demo's condition
    settings.KAFKA_BOOTSTRAP_SERVERS = ""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    caches = (
        ingest.reset_direct_pipeline,
        wallets_selectors.known_keys.reset,
        wallets_selectors.retail_prices.reset,
    )
    for reset in caches:
        reset()
    call_command("seed_demo", stdout=io.StringIO())
    yield
    for reset in caches:
        reset()


def test_the_section_runs_as_written_against_the_demo(demo, tmp_path, monkeypatch):
    """One test: seeding the demo (the whole catalogue) is the slow part."""
    _curl_examples(tmp_path, monkeypatch)
    _litellm_settings()


def _curl_examples(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    client, variables, answers = Client(), {}, {}
    [examples, openrouter_prices] = [b for b in _blocks("sh") if "curl" in b or "manage.py" in b]
    for command in _commands(examples):
        captured = re.fullmatch(r"(\w+)=\$\((curl .*?)\|\s*python3 -c '([^']*)'\)\n", command, re.S)
        if captured:
            name, curl, extractor = captured.groups()
            response = _curl(curl, variables, client)
            assert response.status_code == 201, response.content
            variables[name] = (
                subprocess.run(
                    [sys.executable, "-c", extractor],
                    input=response.content,
                    capture_output=True,
                    check=True,
                )
                .stdout.decode()
                .strip()
            )
            continue
        response = _curl(command, variables, client)
        kind = re.search(r"/v1/usage/(\w+)", command).group(1)
        answers[kind] = (response, command)
    assert sorted(answers) == ["anthropic", "openai", "openrouter"]
    for kind in ("openai", "anthropic"):
        response = answers[kind][0]
        assert response.status_code == 200, response.content
        assert response.json()["items"] == [{"index": 0, "status": "accepted"}], response.json()
    # The hold named in X-Authorization-Id was settled by that usage.
    hold = Authorization.objects.get(public_id=variables["AUTH"])
    assert hold.state == Authorization.State.CAPTURED_BY_USAGE
    # OpenRouter: refused as unrateable in the demo, as the README says...
    [item] = answers["openrouter"][0].json()["items"]
    assert (item["status"], item["code"]) == ("refused", UNRATEABLE), item
    assert f"`{UNRATEABLE}`" in _section()
    assert DeadLetter.objects.get().reason_code == item["code"]

    # ... and booked once the README's prices are imported and it is sent again.
    for command in _commands(openrouter_prices):
        if command.startswith("cat > "):
            head, *lines, _end = command.splitlines()
            Path(head.split()[2]).write_text("\n".join(lines) + "\n")
        else:
            args = shlex.split(command.replace("\\\n", " "))
            assert args[:3] == [".venv/bin/python", "manage.py", "pricing_import_catalog"], args
            call_command(*args[2:], "--no-progress", stdout=io.StringIO())
    # The server's price check comes round (every RELOAD_CHECK_S) before it is resent.
    later = time.monotonic() + rating.RELOAD_CHECK_S + 1
    monkeypatch.setattr(rating, "time", SimpleNamespace(monotonic=lambda: later))
    again = _curl(answers["openrouter"][1], variables, client)
    assert again.json()["items"] == [{"index": 0, "status": "accepted"}], again.json()
    # A second run of each answers duplicate.
    for _response, command in answers.values():
        assert _curl(command, variables, client).json()["items"][0]["status"] == "duplicate"

    records = UsageRecord.objects.filter(source="demo-gateway", metadata__has_key="adapter")
    assert sorted(r.metadata["adapter"] for r in records) == ["anthropic", "openai", "openrouter"]
    assert {(r.customer, r.api_key) for r in records} == {("acme", "key_acme_prod")}
    assert all(r.price_minor > 0 for r in records)
    assert all(row.difference == 0 for row in trial_balance_list())
    assert verify_ledger().ok


def _litellm_headers(environment: str) -> tuple[str, dict[str, str]]:
    """GENERIC_LOGGER_ENDPOINT / _HEADERS as LiteLLM's GenericAPILogger._get_headers
    reads them: Content-Type its own, then `name=value` pairs split at commas, each at
    its first `=`, names and values stripped."""
    exported = {}
    for command in _commands(environment):
        keyword, assignment = shlex.split(command)
        assert keyword == "export", command
        name, _, value = assignment.partition("=")
        exported[name] = value
    assert set(exported) == {"GENERIC_LOGGER_ENDPOINT", "GENERIC_LOGGER_HEADERS"}
    headers = {"Content-Type": "application/json"}
    for item in exported["GENERIC_LOGGER_HEADERS"].split(","):
        if "=" in item:
            name, value = item.split("=", 1)
            headers[name.strip()] = value.strip()
    return exported["GENERIC_LOGGER_ENDPOINT"], headers


def _post_as_litellm(client: Client, endpoint: str, headers: dict[str, str]) -> dict:
    record = litellm_record()  # its team is "acme": the default customer field
    record["id"] = f"chatcmpl-{uuid.uuid4().hex}"
    headers = dict(headers)
    content_type = headers.pop("Content-Type")
    response = client.generic(  # a json_array batch, as the callback's default format
        "POST",
        endpoint.removeprefix(BASE_URL),
        json.dumps([record]),
        content_type,
        **_meta(headers),
    )
    assert response.status_code == 200, response.content
    assert response.json()["items"] == [{"index": 0, "status": "accepted"}], response.json()
    return record


def _litellm_settings():
    config, named = (yaml.safe_load(block) for block in _blocks("yaml"))
    assert config == {"litellm_settings": {"callbacks": ["generic_api"]}}
    [environment] = [b for b in _blocks("sh") if "GENERIC_LOGGER_ENDPOINT" in b]
    endpoint, headers = _litellm_headers(environment)
    client = Client()
    first = _post_as_litellm(client, endpoint, headers)

    # The callback_settings form: the same endpoint and key, successes only.
    [name] = named["litellm_settings"]["callbacks"]
    settings = named["callback_settings"][name]
    assert settings["callback_type"] == "generic_api"
    assert settings["event_types"] == ["llm_api_success"]
    second = _post_as_litellm(
        client,
        settings["endpoint"],
        {"Content-Type": "application/json", **settings["headers"]},
    )
    booked = UsageRecord.objects.filter(event_id__in=[first["id"], second["id"]])
    assert {(r.customer, r.metadata["adapter"]) for r in booked} == {("acme", "litellm")}
    assert booked.count() == 2
