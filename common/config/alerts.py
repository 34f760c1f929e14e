"""Configuration of the alert router: named channels and the routes that pick them.

Mounted into the root settings as ``alerts`` (environment ``HANDRAIL_ALERTS__...``), e.g.::

    HANDRAIL_ALERTS__CHANNELS='{"pd-data": {"type": "pagerduty", "routing_key": "R0..."},
                                "ops": {"type": "slack", "webhook_url": "https://hooks..."}}'
    HANDRAIL_ALERTS__ROUTES='[{"owner": "team-data", "min_severity": "critical",
                               "channels": ["pd-data"]}]'
    HANDRAIL_ALERTS__DEFAULT='["ops"]'

Every route whose owner and minimum severity match an alert contributes its channels (in
order, without repeats) until a matching route with ``stop`` set; an alert no route
matches goes to ``default``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from handrail.schemas.models import Severity

PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"


class Section(BaseModel):
    """Router settings: a validation error never repeats the value it refused (a routing
    key, a webhook URL or secret): it names the setting and says what is wrong."""

    model_config = ConfigDict(hide_input_in_errors=True)


class PagerDutyChannel(Section):
    """A PagerDuty service, reached through the Events API v2."""

    type: Literal["pagerduty"] = Field(description="Channel type.")
    routing_key: SecretStr = Field(description="Integration (routing) key of the service.")
    url: AnyHttpUrl = Field(
        AnyHttpUrl(PAGERDUTY_EVENTS_URL), description="Events API v2 enqueue endpoint."
    )


class SlackChannel(Section):
    """A Slack incoming webhook."""

    type: Literal["slack"] = Field(description="Channel type.")
    webhook_url: SecretStr = Field(
        description="Incoming-webhook URL (a secret: it alone lets anyone post)."
    )
    label: str | None = Field(
        None, description="What the webhook posts to, e.g. '#ops-alerts'; shown as the target."
    )

    @field_validator("webhook_url")
    @classmethod
    def _http(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith(("https://", "http://")):
            raise ValueError("webhook_url must be an http(s) URL")
        return value


class WebhookChannel(Section):
    """Any HTTP endpoint: the alert as JSON, signed with HMAC-SHA256 (see ``signing``)."""

    type: Literal["webhook"] = Field(description="Channel type.")
    url: AnyHttpUrl = Field(description="Endpoint that receives the POST.")
    secret: SecretStr = Field(description="Shared secret of the X-Handrail-Signature HMAC.")


class TerminalChannel(Section):
    """One line per alert on the terminal (rich)."""

    type: Literal["terminal"] = Field(description="Channel type.")
    stream: Literal["stdout", "stderr"] = Field(
        "stderr", description="Stream printed to, unless the router is given a console."
    )


Channel = Annotated[
    PagerDutyChannel | SlackChannel | WebhookChannel | TerminalChannel,
    Field(discriminator="type"),
]
"""One channel's settings, told apart by ``type``."""


class Route(Section):
    """Alerts of an owner at or above a severity go to some channels."""

    owner: str = Field("*", description="Alert owner matched exactly, or '*' for any owner.")
    min_severity: Severity = Field(
        "info", description="Lowest severity matched (info < warning < critical)."
    )
    channels: list[str] = Field(description="Names of the channels the alert goes to.")
    stop: bool = Field(False, description="When this route matches, skip the routes after it.")


class RetrySettings(Section):
    """How HTTP deliveries are retried: exponential backoff, bounded attempts."""

    max_attempts: int = Field(4, ge=1, description="Attempts per delivery, the first included.")
    initial_backoff_s: float = Field(0.5, ge=0, description="Pause after the first failure.")
    multiplier: float = Field(2.0, ge=1, description="Each pause is this times the previous.")
    max_backoff_s: float = Field(
        30.0, ge=0, description="Longest pause, also the cap on a 429's Retry-After."
    )
    jitter: float = Field(
        0.1, ge=0, le=1, description="Pauses vary randomly by up to this fraction either way."
    )
    timeout_s: float = Field(10.0, gt=0, description="Timeout of one HTTP request.")


def _terminal_only() -> dict[str, Channel]:
    return {"terminal": TerminalChannel(type="terminal")}


class RouterSettings(Section):
    """The alert router: where alerts go (channels and routes) and how delivery retries."""

    channels: dict[str, Channel] = Field(
        default_factory=_terminal_only,
        description="Channels by name, each with its type and settings.",
    )
    routes: list[Route] = Field(
        default_factory=list, description="Routes by owner and minimum severity, in order."
    )
    default: list[str] = Field(
        default_factory=lambda: ["terminal"],
        description="Channels of an alert that no route matches.",
    )
    retry: RetrySettings = Field(
        default_factory=RetrySettings, description="Retries of HTTP deliveries."
    )

    @model_validator(mode="after")
    def _known_channels(self) -> RouterSettings:
        named = [*self.default, *(name for route in self.routes for name in route.channels)]
        unknown = sorted(set(named) - set(self.channels))
        if unknown:
            raise ValueError(f"routes name unknown channels: {', '.join(unknown)}")
        return self
