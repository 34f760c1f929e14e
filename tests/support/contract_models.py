"""A payload model a governance file can name as a handoff contract (by import path)."""

from pydantic import BaseModel, Field


class Summary(BaseModel):
    customer_id: str = Field(pattern=r"^C\d+$")
    summary: str = Field(min_length=1)
    refund_usd: float = Field(0, ge=0)
