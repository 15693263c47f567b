"""Closed vocabularies of the guideline: channels, themes, agency kinds and legal bases."""

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

# Kinds of agency (関係機関) a family can be connected to (guideline §4(3)③).
# One list: an agency's kind, a share consent naming a kind, and the
# organisations attending a representative meeting all take these codes, so
# a consent can name every kind an agency can have.
AGENCY_KINDS: dict[str, str] = {
    "child_guidance_center": "児童相談所",
    "health_center": "保健センター",
    "welfare_office": "福祉事務所",
    "medical": "医療機関",
    "child_development_center": "児童発達支援センター",
    "school": "学校",
    "childcare_facility": "保育・教育施設",
    "npo": "NPO・民間の支援団体",
    "other": "その他",
}

# Why the recipient of a family's information is itself bound to
# confidentiality (guideline §6(1)②): agencies, referrals and the external
# participants of a case meeting.
CONFIDENTIALITY_BASES: dict[str, str] = {
    "council_member": "要保護児童対策地域協議会の構成員（児童福祉法25条の5）",
    "public_servant": "公務員の守秘義務",
    "contract_clause": "契約上の守秘義務",
    "professional_duty": "医師・保健師・弁護士等の法定守秘義務",
}

# Why an action may be taken without the family's consent: consent exceptions
# and referrals sent without consent take the same codes (the reason itself is
# personal and recorded separately).
LEGAL_BASES: dict[str, str] = {
    "child_abuse_report": "児童虐待防止法第6条（虐待を受けたと思われる児童の通告義務）",
    "child_welfare_act_25": "児童福祉法第25条（要保護児童の通告）",
    "emergency_life_safety": "人の生命・身体の保護のため緊急に必要な場合",
    "court_order": "裁判所の命令等、法令に基づく場合",
    "other": "その他（理由に記載）",
}

# Outreach (アウトリーチ, guideline §4(1)⑤, §4(3)①): what kind of visit, and
# where it takes place *in general terms* — a code, never an address (any
# detail of the place is free text, personal and sealed).
VISIT_KINDS: dict[str, str] = {
    "home_visit": "家庭訪問",
    "with_public_health_nurse": "保健師同行訪問",
    "pop_up_counter": "出張相談・イベント",
    "other": "その他",
}

VISIT_PLACES: dict[str, str] = {
    "home": "自宅",
    "community_center": "地区センター・公民館",
    "health_center": "保健センター",
    "childcare_facility": "保育・教育施設",
    "event_venue": "イベント会場",
    "other": "その他",
}

# What came of a visit that took place, and why one did not.
VISIT_OUTCOMES: dict[str, str] = {
    "consulted": "相談に応じた",
    "information_provided": "情報提供を行った",
    "connected": "関係機関につないだ",
    "watching": "様子を確認した（見守り）",
    "other": "その他",
}

VISIT_NOT_MET_REASONS: dict[str, str] = {
    "absent": "不在",
    "declined": "面会を断られた",
    "family_postponed": "家族の都合で延期",
    "other": "その他",
}

# The next step agreed after a visit (a follow-up date makes it a task).
VISIT_NEXT_STEPS: dict[str, str] = {
    "revisit": "再訪問",
    "phone_check": "電話で様子を確認",
    "invite_to_site": "来所を案内",
    "refer": "関係機関へつなぐ",
    "case_meeting": "ケース会議で検討",
    "none": "予定なし",
}
