"""The resource directory (社会資源): the places and programmes a family can be sent to.

Guideline §4(3)② asks the service to know its area's resources by kind, with
attributes A (what and where: name, kind, address, operator), B (when: days,
hours, the monthly schedule), C (what it offers) and D (how: at a facility, a
home visit or outreach; free or paid).  An entry describes an organisation,
never a family, so its fields are plaintext; lengths are still bounded and the
values never appear in errors or logs.  Entries live in the municipality's own
space; only published ones are served to the public.  Information goes stale,
so an entry records when someone last confirmed it (``verify``) and one not
confirmed for a year is flagged.  An entry can accept referrals (``accept_referrals``):
its referral profile says how it receives them, checked as any agency is.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate, event

from yorisoi.domain.agencies import checked_recipient
from yorisoi.domain.errors import DomainError, NotFoundDomainError, StaleVersionError

# Kinds of the guideline, with their subkinds (codes; labels for people).
KINDS: dict[str, str] = {
    "education_childcare": "教育・保育施設",
    "community_childcare": "地域型保育事業",
    "local_support": "地域子ども・子育て支援事業",
    "medical": "医療機関",
    "health_welfare": "保健・福祉の関係機関",
    "informal": "子育てサークル・NPO等",
}
SUBKINDS: dict[str, dict[str, str]] = {
    "education_childcare": {"nintei_kodomoen": "認定こども園", "kindergarten": "幼稚園",
                            "nursery": "保育所"},
    "community_childcare": {"small_scale": "小規模保育", "family_daycare": "家庭的保育",
                            "home_visit_care": "居宅訪問型保育", "workplace": "事業所内保育"},
    "local_support": {"hub": "地域子育て支援拠点", "temporary_care": "一時預かり",
                      "after_school": "放課後児童クラブ",
                      "family_support": "ファミリー・サポート・センター",
                      "short_stay": "子育て短期支援", "home_visit": "乳児家庭全戸訪問",
                      "sick_child_care": "病児保育", "other": "その他"},
    "medical": {"hospital": "病院", "clinic": "診療所", "maternity_home": "助産所",
                "other": "その他"},
    "health_welfare": {"health_center": "保健センター・保健所",
                       "child_guidance": "児童相談所", "welfare_office": "福祉事務所",
                       "family_center": "こども家庭センター", "other": "その他"},
    "informal": {"circle": "子育てサークル", "npo": "NPO", "volunteer": "ボランティア",
                 "other": "その他"},
}
OPERATOR_KINDS = ("public", "private", "npo", "other")
FORMS = ("facility", "home_visit", "outreach")
FEES = ("free", "paid")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

MAX_NAME, MAX_ADDRESS, MAX_AREA, MAX_OWNER = 100, 200, 50, 100
MAX_SCHEDULE, MAX_CONTENT, MAX_SLOTS = 500, 2000, 21
MAX_READING = 100
# Kana (hiragana, katakana, the prolonged mark, iteration marks), spaces and ・ (after NFKC).
_KANA = re.compile(r"[\u3041-\u3096\u309d\u309e\u30a1-\u30fa\u30fc-\u30fe・ 　]+")
# Not confirmed for longer than this, an entry is flagged "stale".
STALE_AFTER = timedelta(days=365)
_TIME = re.compile(r"([01]\d|2[0-3]):[0-5]\d|24:00")


class ResourceNotFoundError(NotFoundDomainError):
    code = "resource_not_found"
    message = "No such entry in this municipality's resource directory."
    message_ja = "指定された社会資源はこの自治体の一覧にありません。"


class ResourceKindUnknownError(DomainError):
    code = "resource_kind_unknown"
    message = "Unknown kind or subkind of resource."
    message_ja = "社会資源の種別（または細分類）が正しくありません。"


class ResourceAttributeInvalidError(DomainError):
    code = "resource_attribute_invalid"
    message = "A value is missing, too long or not one of the allowed codes."
    message_ja = "未入力・文字数超過・選択肢にない値のいずれかがあります。"


class ResourceReadingInvalidError(DomainError):
    code = "resource_reading_invalid"
    message = "The reading is written in kana only (hiragana or katakana), at most 100 characters."
    message_ja = "よみがなは、ひらがな・カタカナのみ100文字以内で入力してください。"


class ResourceHoursInvalidError(DomainError):
    code = "resource_hours_invalid"
    message = "Opening hours need a weekday (mon–sun) and HH:MM times, opening before closing."
    message_ja = "開所時間は曜日（mon〜sun）とHH:MM形式の時刻で、開始を終了より前にしてください。"


class ResourceVerificationDateInvalidError(DomainError):
    code = "resource_verification_date_invalid"
    message = "The verification date cannot be in the future or before the last one."
    message_ja = "確認日は未来の日付や前回の確認日より前にはできません。"


class ResourceReferralsNotAcceptedError(DomainError):
    code = "resource_not_accepting_referrals"
    message = "This directory entry does not accept referrals."
    message_ja = "この社会資源はつなぎ（紹介）の受け先に設定されていません。"


class ResourceVersionStaleError(StaleVersionError):
    code = "stale_version"
    message = "The entry was changed since you read it; reload and try again."
    message_ja = "読み込み後に更新されています。再読み込みしてからやり直してください。"


@dataclass(frozen=True)
class OpeningSlot:
    """Open on ``day`` from ``opens`` to ``closes`` (HH:MM, Japan time)."""

    day: str
    opens: str
    closes: str


def _bounded(field: str, value: str | None, limit: int, *, required: bool = False) -> str:
    text = (value or "").strip()
    if (required and not text) or len(text) > limit:
        raise ResourceAttributeInvalidError(field=field)
    return text


def _one_of(field: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ResourceAttributeInvalidError(field=field)
    return value


def checked_reading(reading: str | None) -> str | None:
    """The name's reading as typed (kana only after NFKC: ﾎｲｸｴﾝ, ホイクエン or ほいくえん).

    Optional: None when empty.  The directory's search folds it like the
    name (so ほいく, ホイク and ﾎｲｸ all find 保育園 once its reading is there).
    """
    value = (reading or "").strip()
    if not value:
        return None
    if len(value) > MAX_READING or not _KANA.fullmatch(unicodedata.normalize("NFKC", value)):
        raise ResourceReadingInvalidError(field="reading")
    return value


def checked_attributes(*, name: str, kind: str, subkind: str | None, address: str | None,
                       area: str | None, operator_kind: str, hours: list[OpeningSlot],
                       monthly_schedule: str | None, content: str | None, form: str,
                       fee: str, owner: str, reading: str | None = None) -> dict[str, object]:
    """Attributes A–D, the name's reading and the owner, checked; the event's payload.

    ``reading`` is in the payload only when given, so entries recorded before
    readings existed compare equal to the same entry checked again.
    """
    if kind not in KINDS:
        raise ResourceKindUnknownError(field="kind")
    if subkind is not None and subkind not in SUBKINDS[kind]:
        raise ResourceKindUnknownError(field="subkind")
    if len(hours) > MAX_SLOTS:
        raise ResourceHoursInvalidError(field="hours")
    for slot in hours:
        if (slot.day not in WEEKDAYS or not _TIME.fullmatch(slot.opens)
                or not _TIME.fullmatch(slot.closes) or slot.opens >= slot.closes):
            raise ResourceHoursInvalidError(field="hours")
    return {
        "name": _bounded("name", name, MAX_NAME, required=True), "kind": kind,
        "subkind": subkind, "address": _bounded("address", address, MAX_ADDRESS),
        "area": _bounded("area", area, MAX_AREA),
        "operator_kind": _one_of("operatorKind", operator_kind, OPERATOR_KINDS),
        "hours": [{"day": s.day, "opens": s.opens, "closes": s.closes} for s in hours],
        "monthly_schedule": _bounded("monthlySchedule", monthly_schedule, MAX_SCHEDULE),
        "content": _bounded("content", content, MAX_CONTENT),
        "form": _one_of("form", form, FORMS), "fee": _one_of("fee", fee, FEES),
        "owner": _bounded("owner", owner, MAX_OWNER, required=True),
    } | ({"reading": checked} if (checked := checked_reading(reading)) else {})


class Resource(Aggregate):
    """One entry of a municipality's resource directory."""

    @staticmethod
    def create_id() -> UUID:
        return uuid4()

    @classmethod
    def register(cls, *, municipality_code: str, attributes: dict[str, object],
                 today: date) -> Resource:
        # Whoever enters an entry has just confirmed it: registration counts.
        return cls(municipality_code=municipality_code, attributes=attributes,
                   registered_on=today)

    @event("Registered")
    def __init__(self, municipality_code: str, attributes: dict[str, object],
                 registered_on: date) -> None:
        self.municipality_code = municipality_code
        self.attributes = dict(attributes)
        self.last_verified_on = registered_on
        self.published = False
        # How the entry receives referrals (agency kind, on/off system, contact,
        # default confidentiality basis); None: it does not accept them.
        self.referral_profile: dict[str, object] | None = None

    def check_version(self, expected_version: int | None) -> None:
        """Refuse a change decided on a stale view of the entry."""
        if expected_version is not None and expected_version != self.version:
            raise ResourceVersionStaleError(field="expectedVersion", current_version=self.version)

    def update(self, attributes: dict[str, object]) -> None:
        """Replace attributes A–D and the owner (unchanged values write nothing)."""
        if attributes != self.attributes:
            self._updated(attributes)

    @event("Updated")
    def _updated(self, attributes: dict[str, object]) -> None:
        self.attributes = dict(attributes)

    def verify(self, *, verified_on: date, today: date) -> None:
        """Record that someone confirmed the entry is still right on ``verified_on``."""
        if verified_on > today or verified_on < self.last_verified_on:
            raise ResourceVerificationDateInvalidError(field="verifiedOn")
        self._verified(verified_on)

    @event("Verified")
    def _verified(self, verified_on: date) -> None:
        self.last_verified_on = verified_on

    def publish(self) -> None:
        """Serve the entry to the public (idempotent)."""
        if not self.published:
            self._published()

    @event("Published")
    def _published(self) -> None:
        self.published = True

    def unpublish(self) -> None:
        """Withdraw the entry from the public directory (idempotent)."""
        if self.published:
            self._unpublished()

    @event("Unpublished")
    def _unpublished(self) -> None:
        self.published = False

    def accept_referrals(self, *, agency_kind: str, on_system: bool, contact_email: str | None,
                         confidentiality_basis: str | None) -> None:
        """Make the entry a recipient of referrals, received the way the profile says."""
        profile = checked_recipient(kind=agency_kind, on_system=on_system,
                                    contact_email=contact_email,
                                    confidentiality_basis=confidentiality_basis)
        if profile != self.referral_profile:
            self._referral_profile_set(profile)

    @event("ReferralProfileSet")
    def _referral_profile_set(self, profile: dict[str, object]) -> None:
        self.referral_profile = dict(profile)

    def require_accepting_referrals(self) -> dict[str, object]:
        """The referral profile, or ResourceReferralsNotAcceptedError."""
        if self.referral_profile is None:
            raise ResourceReferralsNotAcceptedError(field="resourceId")
        return self.referral_profile


def findings(last_verified_on: date, today: date) -> list[str]:
    """What a reviewer should look at: ``stale`` when unconfirmed for over a year."""
    return ["stale"] if today - last_verified_on > STALE_AFTER else []
