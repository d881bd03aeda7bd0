"""The real LiteLLM, in-process and offline, pricing with OUR catalogue file.

LiteLLM fetches its price map from the network at import unless
LITELLM_LOCAL_MODEL_COST_MAP is true; it must be set before the first `import litellm`,
so test modules that use LiteLLM import it through here. `our_catalogue_in_litellm`
then loads ../shared/data/model_prices_litellm.json the way LiteLLM loads a fetched map
(`_finalize_model_cost_map`: aliases expanded; `adopt_model_cost_map`: installed with
its caches invalidated), so LiteLLM and our importer read the same prices.
"""

import contextlib
import copy
import json
import os
from pathlib import Path

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

import litellm  # noqa: E402 (after the environment it reads at import)
from litellm.litellm_core_utils.get_model_cost_map import (  # noqa: E402
    _finalize_model_cost_map,
    adopt_model_cost_map,
)

CATALOGUE_PATH = (
    Path(__file__).resolve().parents[1] / "../shared/data/model_prices_litellm.json"
).resolve()


def load_catalogue() -> dict:
    return json.loads(CATALOGUE_PATH.read_text())


@contextlib.contextmanager
def our_catalogue_in_litellm(catalogue: dict | None = None):
    """LiteLLM prices with our catalogue inside the block, with its own map after."""
    previous = litellm.model_cost
    adopt_model_cost_map(_finalize_model_cost_map(copy.deepcopy(catalogue or load_catalogue())))
    try:
        yield litellm
    finally:
        adopt_model_cost_map(previous)
