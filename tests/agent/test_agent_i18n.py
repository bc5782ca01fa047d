"""The cashier page's texts: one place, both languages complete, a text for
every refusal reason the till answers, embedded safely in the page."""
from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest

from agent._api import HTTP_ANSWERS, render_page
from agent._i18n import LANGUAGES, TEXTS, reason_text, texts
from agent._token import MESSAGES

GUARD_REASONS = {"no_token", "bad_token", "bad_host", "bad_origin", "bad_media_type", "not_found"}


def test_every_language_has_the_same_texts() -> None:
    ru = TEXTS["ru"]
    for lang in LANGUAGES:
        assert set(TEXTS[lang]) == set(ru), lang
        assert set(TEXTS[lang]["reasons"]) == set(ru["reasons"]), lang
        assert all(isinstance(v, str) and v.strip() for v in TEXTS[lang]["reasons"].values())


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_reason_the_till_answers_has_words(lang: str) -> None:
    reasons = set(MESSAGES) | set(HTTP_ANSWERS) | GUARD_REASONS
    missing = sorted(r for r in reasons if r not in texts(lang)["reasons"])
    assert not missing


def test_an_unknown_reason_still_says_something_with_the_code() -> None:
    assert reason_text("ru", "brand_new_reason") == "Отказ: brand_new_reason"
    assert reason_text("en", "expired").startswith("The app code has expired")


class Metas(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.metas: dict[str, str] = {}
        self.lang = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "meta" and a.get("name"):
            self.metas[str(a["name"])] = str(a.get("content"))
        if tag == "html":
            self.lang = str(a.get("lang"))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_page_embeds_its_texts_and_token_as_data(lang: str) -> None:
    page = render_page("tok-123_ABC", lang)
    parsed = Metas()
    parsed.feed(page)
    assert parsed.lang == lang and parsed.metas["kopilka-token"] == "tok-123_ABC"
    assert json.loads(parsed.metas["kopilka-texts"]) == texts(lang)
    assert "{{" not in page
