"""Purpose keys: separate per purpose, tagged with a key id, readable across one rotation."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from roamcard import config, keys

OLD = "o" * 40
NEW = "n" * 40


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> config.Settings:
    settings = config.get_settings().model_copy(update={"secret_key": SecretStr(OLD)})
    monkeypatch.setattr(keys, "get_settings", lambda: settings)
    return settings


def rotate(settings: config.Settings) -> None:
    settings.secret_key = SecretStr(NEW)
    settings.secret_key_previous = SecretStr(OLD)


def test_every_purpose_has_its_own_key(secrets: config.Settings) -> None:
    derived = {keys.current(purpose).secret for purpose in keys.PURPOSES}
    assert len(derived) == len(keys.PURPOSES)
    assert OLD.encode() not in derived


def test_an_unknown_purpose_is_refused(secrets: config.Settings) -> None:
    with pytest.raises(ValueError, match="no key purpose"):
        keys.current("csfr")


def test_values_made_before_a_rotation_still_open_after_it(secrets: config.Settings) -> None:
    sealed = keys.encrypt("message-secret", "20261225", context=b"notification:7")
    tag = keys.mac("phone-code", b"123456")
    old_id = keys.current("csrf").key_id
    rotate(secrets)
    assert keys.current("csrf").key_id != old_id
    assert keys.decrypt("message-secret", sealed, context=b"notification:7") == "20261225"
    assert keys.verify_mac("phone-code", b"123456", tag)
    assert keys.mac("phone-code", b"123456") != tag  # new values use the new key


def test_values_from_a_rotated_out_key_are_refused(secrets: config.Settings) -> None:
    sealed = keys.encrypt("message-secret", "20261225")
    tag = keys.mac("phone-code", b"123456")
    rotate(secrets)
    secrets.secret_key_previous = None
    with pytest.raises(keys.UnknownKey):
        keys.decrypt("message-secret", sealed)
    assert not keys.verify_mac("phone-code", b"123456", tag)


def test_tampering_and_moved_ciphertexts_do_not_open(secrets: config.Settings) -> None:
    sealed = keys.encrypt("message-secret", "20261225", context=b"notification:7")
    with pytest.raises(ValueError, match="does not open"):
        keys.decrypt("message-secret", sealed, context=b"notification:8")
    key_id, _, body = sealed.partition(".")
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    with pytest.raises(ValueError, match="does not open"):
        keys.decrypt("message-secret", f"{key_id}.{flipped}", context=b"notification:7")
    assert not keys.verify_mac("phone-code", b"123457", keys.mac("phone-code", b"123456"))
