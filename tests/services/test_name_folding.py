"""Folding names, readings and phones the same way for the index and for a search."""

from __future__ import annotations

import pytest

from yorisoi.services.name_folding import (
    bigrams,
    birth_date,
    fold_name,
    phone_digits,
    reading_words,
    trigrams,
)


@pytest.mark.parametrize(("typed", "folded"), [
    ("髙橋 美咲", "高橋美咲"), ("高橋　美咲", "高橋美咲"), ("𠮷田", "吉田"), ("山﨑", "山崎"),
    ("渡邊", "渡辺"), ("渡邉", "渡辺"), ("齋藤", "斎藤"), ("櫻井", "桜井"),
    ("ﾀｶﾊｼ ﾐｻｷ", "たかはしみさき"), ("タカハシ・ミサキ", "たかはしみさき"), ("ＳＡＴＯ", "sato"),
    ("ゆーき", "ゆーき"), ("", ""),
])
def test_names_and_readings_fold_to_one_form(typed, folded):
    assert fold_name(typed) == folded


def test_pairs_triples_and_words():
    assert bigrams("たかはし") == ["たか", "かは", "はし"]
    assert trigrams("たかはし") == ["たかは", "かはし"]
    assert trigrams("たか") == []
    assert reading_words("タカハシ　ミサキ") == ["たかはし", "みさき"]


@pytest.mark.parametrize(("typed", "digits"), [
    ("090-1234-5678", "09012345678"), ("０９０（１２３４）５６７８", "09012345678"),
    ("03 3333 4444", "0333334444"), ("+81 90-1234-5678", "09012345678"),
    ("2024-04-01", None), ("R8-000123", None), ("12345", None), ("たかはし", None),
])
def test_phones_are_their_digits(typed, digits):
    assert phone_digits(typed) == digits


def test_birth_dates_in_any_form_become_iso():
    assert birth_date("令和6年4月1日") == birth_date("2024/4/1") == "2024-04-01"
    assert birth_date("2024-04-01") == "2024-04-01"
    assert birth_date("いつか") is None
