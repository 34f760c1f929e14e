"""What a model call cost: the span's own cost attribute if it has one, else the price of
its model and tokens in genai-prices' table (its snapshot, no network), else 0."""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from genai_prices import Usage, calc_price

log = logging.getLogger(__name__)

COST_KEYS = ("operation.cost", "gen_ai.usage.cost", "llm.cost.total")
"""Pydantic AI (via Logfire's conventions), the GenAI proposal, OpenInference."""


def price(
    attrs: dict[str, Any], model: str, provider: str, tokens_in: int, tokens_out: int
) -> float:
    """USD for one call; a cost the span states is taken as it is (the SDK refuses what is
    not a number from 0 to $1e9, and the span with it)."""
    for key in COST_KEYS:
        value = attrs.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    if not (tokens_in or tokens_out):
        return 0.0
    return _table(model, provider, tokens_in, tokens_out)


@lru_cache(maxsize=4096)
def _table(model: str, provider: str, tokens_in: int, tokens_out: int) -> float:
    usage = Usage(input_tokens=tokens_in, output_tokens=tokens_out)
    for known in (provider, None):  # the provider's name may not be the table's
        try:
            return float(calc_price(usage, model_ref=model, provider_id=known).total_price)
        except Exception as exc:  # an unknown model or provider
            error = exc
    log.info("no price for %.80r/%.80r (%.200s): its spend counts $0", provider, model, error)
    return 0.0
