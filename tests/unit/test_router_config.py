"""Router settings: defaults, validation, secrets, and mounting under the root settings."""

from __future__ import annotations

import pydantic
import pytest
from pydantic import BaseModel, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from handrail.processors.router import (
    PagerDutyChannel,
    RetrySettings,
    Route,
    RouterSettings,
    SlackChannel,
    TerminalChannel,
    WebhookChannel,
)


class _Root(BaseSettings):
    """Stands for ``handrail.settings.Settings`` with the router mounted as ``alerts``."""

    model_config = SettingsConfigDict(env_prefix="HANDRAIL_", env_nested_delimiter="__")
    alerts: RouterSettings = pydantic.Field(default_factory=RouterSettings)


def test_default_is_the_terminal_for_everything() -> None:
    settings = RouterSettings()
    assert settings.default == ["terminal"]
    assert isinstance(settings.channels["terminal"], TerminalChannel)
    assert settings.routes == []


@pytest.mark.parametrize(
    ("routes", "default", "unknown"),
    [
        ([{"channels": ["nope"]}], ["terminal"], "nope"),
        ([], ["pd", "terminal"], "pd"),
    ],
)
def test_routes_must_name_configured_channels(
    routes: list[dict[str, object]], default: list[str], unknown: str
) -> None:
    with pytest.raises(ValidationError, match=f"unknown channels: {unknown}"):
        RouterSettings.model_validate({"routes": routes, "default": default})


def test_channels_are_told_apart_by_type() -> None:
    settings = RouterSettings.model_validate(
        {
            "channels": {
                "pd": {"type": "pagerduty", "routing_key": "R123"},
                "ops": {"type": "slack", "webhook_url": "https://hooks.slack.test/T/B/x"},
                "hook": {"type": "webhook", "url": "https://example.test/h", "secret": "s"},
                "tty": {"type": "terminal", "stream": "stdout"},
            },
            "default": ["tty"],
        }
    )
    kinds = {name: type(ch) for name, ch in settings.channels.items()}
    assert kinds == {
        "pd": PagerDutyChannel,
        "ops": SlackChannel,
        "hook": WebhookChannel,
        "tty": TerminalChannel,
    }
    pd = settings.channels["pd"]
    assert isinstance(pd, PagerDutyChannel)
    assert str(pd.url) == "https://events.pagerduty.com/v2/enqueue"


def test_secrets_stay_out_of_reprs() -> None:
    settings = RouterSettings.model_validate(
        {
            "channels": {
                "pd": {"type": "pagerduty", "routing_key": "R-SECRET"},
                "ops": {"type": "slack", "webhook_url": "https://hooks.test/SLACK-SECRET"},
                "hook": {"type": "webhook", "url": "https://x.test/h", "secret": "HMAC-SECRET"},
            },
            "default": ["pd"],
        }
    )
    text = repr(settings) + settings.model_dump_json()
    for secret in ("R-SECRET", "SLACK-SECRET", "HMAC-SECRET"):
        assert secret not in text


def test_slack_url_must_be_http() -> None:
    with pytest.raises(ValidationError, match="http"):
        SlackChannel(type="slack", webhook_url=pydantic.SecretStr("hooks.slack.com/x"))


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_attempts", 0), ("multiplier", 0.5), ("jitter", 1.5), ("timeout_s", 0)],
)
def test_retry_bounds(field: str, value: float) -> None:
    with pytest.raises(ValidationError):
        RetrySettings.model_validate({field: value})


def test_mounted_under_root_settings_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "HANDRAIL_ALERTS__CHANNELS",
        '{"pd": {"type": "pagerduty", "routing_key": "R1", "url": "http://127.0.0.1:9/e"}}',
    )
    monkeypatch.setenv(
        "HANDRAIL_ALERTS__ROUTES",
        '[{"owner": "team-data", "min_severity": "critical", "channels": ["pd"]}]',
    )
    monkeypatch.setenv("HANDRAIL_ALERTS__DEFAULT", '["pd"]')
    monkeypatch.setenv("HANDRAIL_ALERTS__RETRY__MAX_ATTEMPTS", "7")
    alerts = _Root().alerts
    assert alerts.routes == [Route(owner="team-data", min_severity="critical", channels=["pd"])]
    assert alerts.retry.max_attempts == 7
    assert alerts.channels["pd"].type == "pagerduty"


@pytest.mark.parametrize(
    "model",
    [
        RouterSettings,
        Route,
        RetrySettings,
        PagerDutyChannel,
        SlackChannel,
        WebhookChannel,
        TerminalChannel,
    ],
)
def test_every_field_is_documented(model: type[BaseModel]) -> None:
    undocumented = [name for name, f in model.model_fields.items() if not f.description]
    assert undocumented == []
