"""The django_cache connector, on the deployment's real Redis cache."""

import pytest
from django.core.cache import cache

from connectors.base import ConnectorConfigError
from connectors.django_cache import DjangoCache
from tests import identifiers


def test_named_keys_are_found_erased_and_checked():
    uid, other, email = identifiers.user_id(), identifiers.user_id(), identifiers.email()
    cache.set_many(
        {
            f"profile:{uid}": 1,
            f"profile:{other}": 2,
            f"banner:{email.lower()}": 3,
            f"banner:{email.lower()}x": 4,
        }
    )
    target = DjangoCache(config={"keys": ["profile:{user_id}", "banner:{email}"]})
    values = {"user_id": [uid], "email": [email.lower()]}
    assert target.id_types == {"user_id", "email"}
    assert target.locate(values).count == 2
    erased = target.erase(values)
    assert (erased.op, erased.count) == ("delete", 2)
    assert target.verify(values).remaining == 0
    assert cache.get(f"profile:{other}") == 2
    assert cache.get(f"banner:{email.lower()}x") == 4  # a longer key is another subject's
    assert target.erase(values).op == "none"


@pytest.mark.parametrize(
    "config",
    [
        {"keys": ["chat:{user_id}:*"]},
        {"keys": ["no-placeholder"]},
        {"keys": ["a {user_id}"]},
        {"keys": []},
        {"alias": "nope", "keys": ["profile:{user_id}"]},
    ],
)
def test_bad_configs_are_refused(config):
    with pytest.raises(ConnectorConfigError):
        DjangoCache(config=config)
