"""Fixtures for the pricing tests: the real LiteLLM catalogue that ships beside the repo."""

import copy
import json
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
# shared/ sits beside the clone (in CI too); PRICE_CATALOGUE_PATH points elsewhere.
DEFAULT_CATALOGUE_PATH = (REPO_ROOT / "../shared/data/model_prices_litellm.json").resolve()


def catalogue_path() -> Path:
    return Path(os.environ.get("PRICE_CATALOGUE_PATH") or DEFAULT_CATALOGUE_PATH)


@pytest.fixture(scope="session")
def real_catalogue_path() -> Path:
    path = catalogue_path()
    assert path.is_file(), f"the price catalogue is missing at {path} (set PRICE_CATALOGUE_PATH)"
    return path


@pytest.fixture(scope="session")
def _real_catalogue(real_catalogue_path) -> dict:
    return json.loads(real_catalogue_path.read_text())


@pytest.fixture
def real_catalogue(_real_catalogue) -> dict:
    """A private copy: tests may change prices in it."""
    return copy.deepcopy(_real_catalogue)
