"""The keyed topic's messages: observations under their keys, a bundle per message."""

from __future__ import annotations

import orjson
import pytest

from handrail.processors.observation import (
    Observation,
    decode_bundle,
    encode_bundle,
    encode_bundles,
)
from tests.support.samples import event_record


def observations(count: int, agent: str = "a") -> list[Observation]:
    return [
        Observation.from_record(event_record("spend", sequence=n, agent=agent, usd=float(n)))
        for n in range(count)
    ]


def pairs_of(bundles: list[bytes]) -> list[tuple[str, Observation]]:
    return [(k, o) for data in bundles for k, obs in decode_bundle(b"", data).items() for o in obs]


def test_a_bundle_keeps_each_key_s_observations_in_order() -> None:
    pairs = [(f"agent:{n % 3}", obs) for n, obs in enumerate(observations(9))]
    (data,) = encode_bundles(pairs, limit=1 << 20)
    bundle = decode_bundle(b"", data)
    assert list(bundle) == ["agent:0", "agent:1", "agent:2"]
    assert bundle["agent:1"] == [obs for key, obs in pairs if key == "agent:1"]


def test_bundles_are_split_under_the_limit_and_lose_nothing() -> None:
    pairs = [(f"agent:{n % 4}", obs) for n, obs in enumerate(observations(200))]
    whole = len(encode_bundle(pairs))
    bundles = encode_bundles(pairs, limit=whole // 5)
    assert len(bundles) > 5
    assert all(len(b) <= whole // 5 for b in bundles)
    assert sorted(pairs_of(bundles), key=lambda p: p[1].sequence) == pairs
    for key in {k for k, _ in pairs}:  # each key's order survives the split
        assert [o for k, o in pairs_of(bundles) if k == key] == [o for k, o in pairs if k == key]


def test_an_observation_larger_than_the_limit_goes_alone() -> None:
    pairs = [("agent:a", obs) for obs in observations(3)]
    bundles = encode_bundles(pairs, limit=10)
    assert len(bundles) == 3
    assert pairs_of(bundles) == pairs


def test_a_message_of_one_key_as_workers_sent_before_bundles_is_read() -> None:
    obs = observations(2)
    legacy = orjson.dumps([o.to_list() for o in obs])
    assert decode_bundle(b"agent:a", legacy) == {"agent:a": obs}


@pytest.mark.parametrize(
    "data",
    [b"", b"not json", b'{"agent:a": [[1, 2]]}', b'{"agent:a": 3}', b"[[null]]", b"42"],
)
def test_a_hostile_message_raises_instead_of_being_half_read(data: bytes) -> None:
    with pytest.raises((ValueError, TypeError)):
        decode_bundle(b"agent:a", data)
