"""個人情報ファイル簿 (the personal-information file register, 個人情報の保護に関する法律 §75).

A municipality must publish, for each personal-information file it holds,
its name, purposes, items recorded (記録項目), the persons recorded, how the
information is collected, whether it includes sensitive information (要配慮
個人情報), regular recipients, and where to make requests.  The entry is
generated from the schema, not written by hand, so it cannot drift from what
the system stores:

* items: every field of every event class of the file's aggregates
  (``domain/*.py``), the ``personal_fields`` marked as encrypted under the
  household's key (shredded on disposal), the others kept for statistics;
* an aggregate with personal fields that belongs to no file is listed under
  an "unclassified" entry and raises a warning — never silently left out;
* the read models that keep sealed copies (their ``{bytes}`` columns);
* retention from the municipality's retention schedule when one is set
  (``schedule_in_effect``), else "市町村の規則による";
* purposes from the guideline (``../shared/seed/000_c15a59848ea707d4.txt``);
  recipients from the agency kinds referrals go to.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from types import ModuleType
from typing import Any

from eventsourcing.domain import Aggregate

import yorisoi.domain
from yorisoi.domain.vocabulary import AGENCY_KINDS, CHANNEL_LABELS_JA
from yorisoi.projections.tenant_views import TENANT_VIEWS
from yorisoi.services.disclosure_document import FIELD_LABELS, KIND_LABELS

LAW = "個人情報の保護に関する法律第75条"
_TECHNICAL = {"originator_id", "originator_version", "timestamp", "originator_topic",
              "municipality_code"}
_KIND_OF = {"Household": "household", "Case": "case", "Consultation": "consultation",
            "SupportNote": "support_note", "Consent": "consent",
            "ConsentException": "consent_exception", "Referral": "referral",
            "CaseMeeting": "case_meeting", "OutreachVisit": "outreach_visit",
            "Complaint": "complaint", "ComplaintRoles": "complaint_roles", "DataSubjectRequest": "data_subject_request"}
# The retention schedule's record classes (domain/retention.py) by record kind.
_RETENTION_CLASS = {"household": "consultation_file", "case": "consultation_file",
                    "consultation": "consultation_file", "support_note": "consultation_file",
                    "referral": "referral", "case_meeting": "meeting_minutes",
                    "outreach_visit": "consultation_file",
                    "consent": "consent_form", "consent_exception": "consent_form",
                    "complaint": "complaint", "complaint_roles": "complaint"}
BY_RULE = "市町村の規則による"


@dataclass(frozen=True)
class FileSpec:
    """What the schema cannot say about a file: its name, purposes, people and recipients."""

    code: str
    name: str
    aggregates: tuple[str, ...]
    purposes: tuple[str, ...]
    persons: tuple[str, ...]
    collection: tuple[str, ...]
    sensitive: str
    recipients: tuple[str, ...]


_CHANNELS = "・".join(CHANNEL_LABELS_JA.values())
FILES: tuple[FileSpec, ...] = (
    FileSpec(
        code="casework", name="利用者支援事業 相談・支援記録ファイル",
        aggregates=("Household", "Case", "Consultation", "SupportNote", "Consent",
                    "ConsentException", "Referral", "CaseMeeting", "OutreachVisit",
                    "DataSubjectRequest"),
        purposes=(
            ("子育て家庭の個別のニーズを把握し、教育・保育施設や地域の子育て支援事業等を円滑に"
             "利用できるよう相談・助言・利用支援を行うため（利用者支援事業ガイドライン1・4(3)①）"),
            ("適切な支援活動と支援活動の継続性の担保、事例検討、関係機関等との的確な情報共有のため"
             "（同4(3)④・6(1)①）"),
            "必要に応じて関係機関につなぎ、ケース会議により関係機関が連携して支援するため（同4(3)③）",
            ("記録の作成・閲覧・関係機関への提供についての本人の承諾と、法令に基づく例外を記録するため"
             "（同6(1)①②）"),
            "本人からの開示・訂正・利用停止の請求に対応するため（法第5章第4節）",
            "事業の実施状況の集計（個人を識別しない統計のみ）",
        ),
        persons=("利用者支援事業を利用する子育て家庭の保護者", "その子ども（おおむね18歳まで）",
                 "妊娠している方及びその配偶者（同ガイドライン3）"),
        collection=(f"本人（保護者等）からの相談による（{_CHANNELS}）",
                    "本人の同意を得て、又は法令に基づき関係機関から",
                    "ケース会議の参加者から",
                    "訪問（アウトリーチ）の際に本人から"),
        sensitive=("含む（相談内容に心身の状況、児童虐待・DVの懸念等が記録されることがある）"),
        recipients=(*(f"{label}（つなぎ・仲介の提供先）" for label in AGENCY_KINDS.values()),
                    "ケース会議の外部参加者（守秘義務のある関係機関の職員・有識者）",
                    "要保護児童対策地域協議会の構成機関（児童福祉法第25条の5）")),
    FileSpec(
        code="complaints", name="利用者支援事業 苦情・要望記録ファイル",
        aggregates=("Complaint", "ComplaintRoles"),
        purposes=(("苦情・要望を受け付け、第三者委員の関与のもとで解決し、結果を報告・公表するため"
                   "（同ガイドライン6(2)、社会福祉法第82条）"),),
        persons=("苦情・要望の申出人", "第三者委員"),
        collection=("申出人からの申出による（来所・電話・書面・電子メール・意見箱・オンライン）",),
        sensitive="含むことがある（申出の内容による）",
        recipients=("運営適正化委員会（社会福祉法第83条、申出人の希望による申立て）",)),
)
_UNCLASSIFIED = FileSpec(
    code="unclassified", name="未分類の記録（ファイル簿への分類が必要）", aggregates=(),
    purposes=("（未設定）",), persons=("（未設定）",), collection=("（未設定）",),
    sensitive="（未確認）", recipients=())


def domain_modules() -> list[ModuleType]:
    """Every module of the domain package (what the register walks)."""
    return [importlib.import_module(f"yorisoi.domain.{m.name}")
            for m in pkgutil.iter_modules(yorisoi.domain.__path__)]


def event_classes(aggregate: type) -> list[type]:
    """The aggregate's own event classes (the generated bases ``Event`` and ``Created`` left out)."""
    return [v for name, v in vars(aggregate).items()
            if isinstance(v, type) and name not in ("Event", "Created")
            and dataclasses.is_dataclass(v)
            and "originator_version" in {f.name for f in dataclasses.fields(v)}]


def aggregates_in(modules: Iterable[ModuleType]) -> dict[str, type]:
    found: dict[str, type] = {}
    for module in modules:
        for value in vars(module).values():
            if (isinstance(value, type) and issubclass(value, Aggregate)
                    and value.__module__ == module.__name__):
                found[value.__name__] = value
    return found


def items_of(aggregate: type) -> list[dict[str, Any]]:
    """Every field the aggregate's events record, personal ones marked (in first-seen order)."""
    items: dict[str, bool] = {}
    for cls in event_classes(aggregate):
        personal = set(getattr(cls, "personal_fields", ()))
        names = [f.name for f in dataclasses.fields(cls)] + sorted(personal)
        for name in names:
            if name in _TECHNICAL or (name.endswith("_id") and name not in personal):
                continue
            items[name] = items.get(name, False) or name in personal
    return [{"field": name, "label": FIELD_LABELS.get(name, name), "personal": personal}
            for name, personal in items.items()]


def sealed_read_models() -> list[dict[str, Any]]:
    """Read-model tables that keep sealed (encrypted) copies of personal values."""
    found = []
    for view in TENANT_VIEWS:
        for statement in view.ddl():
            match = re.match(r"CREATE TABLE IF NOT EXISTS \{s\}(\w+) \((.*)\)$", statement, re.DOTALL)
            if match:
                columns = [c.split()[0] for c in match.group(2).split(",")
                           if "{bytes}" in c and c.split()]
                if columns:
                    found.append({"table": match.group(1), "sealedColumns": columns})
    return found


def search_indexes() -> list[dict[str, Any]]:
    """Read models that index personal values as keyed hashes (blind indexes), never in clear."""
    return [{"tables": list(view.tables), "note": view.register_note}
            for view in TENANT_VIEWS if getattr(view, "register_note", None)]


def _retention(app: Any, kind: str, today: date) -> str:
    lookup = getattr(app, "schedule_in_effect", None)  # the retention schedule, when present
    version = lookup(today) if lookup is not None else None
    record_class = _RETENTION_CLASS.get(kind)
    if version is None or record_class is None or record_class not in version.years:
        return BY_RULE
    years = version.years[record_class]
    return ("永年" if years is None
            else f"{years}年（ケースの終結の翌年度4月1日から起算。保存年限表 第{version.version}版）")


def build_file_register(app: Any, *, municipality_name: str, today: date,
                        modules: Iterable[ModuleType] | None = None) -> dict[str, Any]:
    """The register entries of one municipality, as a JSON-ready dict."""
    aggregates = aggregates_in(modules if modules is not None else domain_modules())
    claimed = {name for spec in FILES for name in spec.aggregates}
    stray = tuple(sorted(name for name, cls in aggregates.items() if name not in claimed
                         and any(getattr(e, "personal_fields", ()) for e in event_classes(cls))))
    specs = [*FILES, dataclasses.replace(_UNCLASSIFIED, aggregates=stray)] if stray else FILES
    files = []
    for spec in specs:
        records = []
        for name in spec.aggregates:
            if name not in aggregates:
                continue
            kind = _KIND_OF.get(name, name)
            records.append({"kind": kind, "label": KIND_LABELS.get(kind, name),
                            "retention": _retention(app, kind, today),
                            "items": items_of(aggregates[name])})
        files.append({
            "code": spec.code, "name": spec.name,
            "organisation": f"{municipality_name}（利用者支援事業の所管課）",
            "purposes": list(spec.purposes), "persons": list(spec.persons), "records": records,
            "collection": list(spec.collection), "sensitive": spec.sensitive,
            "recipients": list(spec.recipients),
            "requestOffice": f"{municipality_name} 個人情報保護の窓口（開示・訂正・利用停止の請求）",
            "fileType": "電算処理ファイル（法第60条第2項第1号）",
        })
    return {
        "law": LAW, "municipalityCode": app.municipality_code,
        "municipalityName": municipality_name, "generatedOn": today.isoformat(),
        "files": files, "sealedReadModels": sealed_read_models(),
        "searchIndexes": search_indexes(),
        "warnings": [f"unclassified aggregate with personal fields: {name}" for name in stray],
    }


def render_markdown(register: dict[str, Any]) -> str:
    """The register as a Japanese Markdown document (for publication, §75(2))."""
    lines = [f"# 個人情報ファイル簿（{register['municipalityName']}）", "",
             f"根拠: {register['law']}　作成日: {register['generatedOn']}", ""]
    for f in register["files"]:
        lines += [f"## {f['name']}", "", "| 項目 | 内容 |", "|---|---|",
                  f"| 個人情報ファイルの名称 | {f['name']} |",
                  f"| 行政機関等の名称及び所管する組織 | {f['organisation']} |",
                  f"| 利用目的 | {'<br>'.join(f['purposes'])} |",
                  f"| 記録される個人の範囲 | {'、'.join(f['persons'])} |",
                  f"| 記録情報の収集方法 | {'<br>'.join(f['collection'])} |",
                  f"| 要配慮個人情報 | {f['sensitive']} |",
                  f"| 記録情報の経常的提供先 | {'<br>'.join(f['recipients']) or 'なし'} |",
                  f"| 開示請求等を受理する組織 | {f['requestOffice']} |",
                  f"| ファイルの種別 | {f['fileType']} |", "", "### 記録項目", ""]
        for r in f["records"]:
            items = "、".join(i["label"] + ("（※）" if i["personal"] else "") for i in r["items"])
            lines += [f"- **{r['label']}**（保存期間: {r['retention']}）: {items}"]
        lines += ["", ("※ 世帯ごと（苦情・要望は申出ごと）の鍵で暗号化して保存し、廃棄の際に鍵を"
                       "破棄して読み出せなくする項目。"), ""]
    if register["sealedReadModels"]:
        tables = "、".join(m["table"] for m in register["sealedReadModels"])
        lines += ["## 参考: 暗号化した写しを保持する検索用テーブル", "", tables, ""]
    for index in register.get("searchIndexes", []):
        lines += ["## 参考: 検索用索引（ブラインドインデックス）", "",
                  f"{'、'.join(index['tables'])}: {index['note']}", ""]
    return "\n".join(lines)
