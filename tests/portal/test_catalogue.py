from __future__ import annotations

from tests.portal import catalogue


def test_every_portal_message_has_a_chinese_translation() -> None:
    assert catalogue.portal_msgids(), "the extractor found nothing: it is broken"
    assert catalogue.missing("zh_CN") == []


def test_both_languages_have_a_portal_catalogue() -> None:
    assert catalogue.portal_catalogue("zh_CN").exists()
    assert catalogue.portal_catalogue("en").exists()
