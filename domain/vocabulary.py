"""Closed vocabularies of the guideline: consultation channels and themes."""

from __future__ import annotations

from enum import Enum


class Channel(str, Enum):
    """How the family reached the specialist (guideline §4(3)①)."""

    VISIT = "visit"  # 来所
    PHONE = "phone"  # 電話
    OUTREACH = "outreach"  # 訪問・アウトリーチ
    ONLINE = "online"  # オンライン


CHANNEL_LABELS_JA = {
    Channel.VISIT: "来所",
    Channel.PHONE: "電話",
    Channel.OUTREACH: "訪問・アウトリーチ",
    Channel.ONLINE: "オンライン",
}

# The national starting taxonomy; a municipality may extend it (kept in its
# settings), so aggregates take the allowed set as an argument.
STANDARD_THEMES: dict[str, str] = {
    "childcare_place": "保育・教育施設の利用",
    "temporary_care": "一時預かり",
    "development": "発達",
    "daily_worries": "日常の育児の悩み",
    "pregnancy_birth": "妊娠・出産",
    "health": "健康・医療",
    "money": "経済的な困りごと",
    "family_relations": "家族関係",
    "dv": "DV",
    "abuse_concern": "虐待の懸念",
    "other": "その他",
}
