"""Disposal certificates (廃棄証明): built from a finished batch, signed, verified, rendered.

A certificate states what was disposed of — household and record ids,
record classes and counts, the schedule version that made them due, who
proposed and who approved, when each step ran — and the proof that each
household key is gone (its ``household_keys`` row: ``wrapped_key`` NULL and
``destroyed_at``; the tenant-key version it was wrapped under, retired).  It
holds no personal data: no names, no texts, nothing a household said.

The file is canonical JSON (``infra/signing.canonical_json``) of
``{"certificate": …, "signature": …}`` and a newline, signed with the
platform's Ed25519 key.  Verification insists on the exact canonical bytes,
so altering any byte of the file — a value, the signature, even whitespace —
fails.  The Japanese rendering (Markdown, dates also in 和暦) is for people;
only the JSON is evidence.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import date, datetime
from typing import Any

from yorisoi.domain.disposal import SKIP_REASONS
from yorisoi.domain.retention import RECORD_CLASSES
from yorisoi.infra.clock import JST
from yorisoi.infra.signing import PlatformSigner, SignatureInvalidError, canonical_json, verify

CERTIFICATE_TYPE = "yorisoi.disposal-certificate"
FORMAT_VERSION = 1


class CertificateInvalidError(Exception):
    """The file is not a certificate the platform key signed, byte for byte."""

    code = "certificate_invalid"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def certificate_key(space: str, batch_id: str) -> str:
    # Outside every household prefix: disposing of a household never deletes a proof.
    return f"{space}/disposal-certificates/{batch_id}.json"


def sign_certificate(document: dict[str, Any], signer: PlatformSigner) -> bytes:
    """The certificate file: canonical JSON of the document and its signature, one line."""
    signature = signer.sign(document).as_dict()
    return canonical_json({"certificate": document, "signature": signature}) + b"\n"


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verify_certificate(data: bytes, public_pem: str) -> dict[str, Any]:
    """The certified document, or CertificateInvalidError (any change to the file fails)."""
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise CertificateInvalidError("not a JSON document") from None
    if not isinstance(parsed, dict) or set(parsed) != {"certificate", "signature"}:
        raise CertificateInvalidError("not a disposal certificate")
    if canonical_json(parsed) + b"\n" != data:
        raise CertificateInvalidError("not in canonical form (the file was changed)")
    document, signature = parsed["certificate"], parsed["signature"]
    if not isinstance(document, dict) or document.get("type") != CERTIFICATE_TYPE:
        raise CertificateInvalidError("not a disposal certificate")
    if not isinstance(signature, dict) or set(signature) != {"algorithm", "keyId", "value"}:
        raise CertificateInvalidError("the signature is malformed")
    value = signature["value"]
    try:
        # Strict: base64 decoding would otherwise skip characters that were changed.
        if not isinstance(value, str) or base64.b64encode(
                base64.b64decode(value, validate=True)).decode() != value:
            raise ValueError
    except (ValueError, binascii.Error):
        raise CertificateInvalidError("the signature is malformed") from None
    try:
        verify(public_pem, document, signature)
    except SignatureInvalidError as error:
        raise CertificateInvalidError(str(error)) from None
    except ValueError:
        raise CertificateInvalidError("the public key is not usable") from None
    return document


def build_certificate(*, space: str, batch: Any, schedule: Any, key_rows: dict[str, Any],
                      live_kek_versions: list[int]) -> dict[str, Any]:
    """The certificate of a batch whose households are all disposed of or skipped.

    Deterministic: built only from the batch's events and the stored key rows,
    so a run that stopped after storing it rebuilds the very same bytes.
    """
    households, totals = [], {}
    for household_id in batch.disposed:
        outcome, steps, proposed = (batch.outcomes[household_id], batch.steps[household_id],
                                    batch.households[household_id])
        counts: dict[str, int] = {}
        for record in outcome["records"]:
            counts[record["class"]] = counts.get(record["class"], 0) + 1
            totals[record["class"]] = totals.get(record["class"], 0) + 1
        row = key_rows.get(household_id) or {}
        destroyed = steps["key_destroyed"]
        households.append({
            "householdId": household_id,
            "closedOn": proposed["closed_on"], "dueOn": proposed["due_on"],
            "disposedAt": outcome["at"],
            "records": outcome["records"], "counts": dict(sorted(counts.items())),
            "steps": {step: steps[step]["at"] for step in sorted(steps)},
            "readModelsPurged": steps["read_models_purged"].get("views", []),
            "objectsDeleted": steps["objects_deleted"].get("objects", 0),
            "key": {"table": "household_keys", "householdId": household_id,
                    "wrappedKey": None if row.get("wrapped_key") is None else "PRESENT",
                    "createdAt": row.get("created_at"), "destroyedAt": row.get("destroyed_at"),
                    "kekVersion": destroyed.get("kek_version"),
                    "kekVersionRetired": destroyed.get("kek_version") not in live_kek_versions},
        })
    skipped = [{"householdId": h, "reason": batch.outcomes[h]["reason"],
                "at": batch.outcomes[h]["at"]}
               for h in batch.households if batch.household_state(h) == "skipped"]
    rotation = batch.key_rotation
    times = [o["at"] for o in batch.outcomes.values()] + ([rotation["at"]] if rotation else [])
    return {
        "type": CERTIFICATE_TYPE, "formatVersion": FORMAT_VERSION,
        "municipality": {"code": batch.municipality_code, "space": space},
        "batch": {"id": str(batch.id), "proposedBy": batch.proposed_by,
                  "proposedAt": batch.proposed_at, "approvedBy": batch.approved_by,
                  "approvedAt": batch.approved_at, "twoPersonApproval": batch.two_person_approval,
                  "evaluatedOn": batch.evaluated_on.isoformat(), "startedAt": batch.started_at},
        "schedule": {"version": schedule.version,
                     "effectiveFrom": schedule.effective_from.isoformat(),
                     "years": dict(schedule.years),
                     "twoPersonApproval": schedule.two_person_approval},
        "households": households, "skipped": skipped,
        "totals": {"households": len(households), "skipped": len(skipped),
                   "records": sum(totals.values()), "byClass": dict(sorted(totals.items()))},
        "tenantKey": None if rotation is None else {**rotation,
                                                     "liveVersions": live_kek_versions},
        "issuedAt": max(times) if times else batch.started_at,
    }


# --------------------------------------------------------------------------- rendering

_ERAS = ((date(2019, 5, 1), "令和", 2018), (date(1989, 1, 8), "平成", 1988),
         (date(1926, 12, 25), "昭和", 1925))


def wareki(day: date) -> str:
    """A date in the Japanese calendar (和暦), e.g. 令和7年4月1日; 元年 for an era's first year."""
    for start, era, offset in _ERAS:
        if day >= start:
            year = day.year - offset
            return f"{era}{'元' if year == 1 else year}年{day.month}月{day.day}日"
    return f"{day.year}年{day.month}月{day.day}日"


def _day(text: str | None) -> str:
    if not text:
        return "—"
    day = date.fromisoformat(text)
    return f"{wareki(day)}（{day.isoformat()}）"


def _moment(text: str | None) -> str:
    if not text:
        return "—"
    moment = datetime.fromisoformat(text).astimezone(JST)
    return f"{wareki(moment.date())} {moment:%H:%M:%S} JST（{text}）"


def render_markdown(data: bytes) -> str:
    """The certificate for people, in Japanese (the JSON file is the evidence)."""
    parsed = json.loads(data)
    doc, signature = parsed["certificate"], parsed["signature"]
    batch, schedule, totals = doc["batch"], doc["schedule"], doc["totals"]
    years = {name: ("永年" if y is None else f"{y}年") for name, y in schedule["years"].items()}
    lines = [
        "# 廃棄証明書", "",
        "本書は、下記の記録を保存年限表に基づき承認を経て廃棄し、各世帯の暗号鍵を消去したことを"
        "証明する。個人情報は記載していない。", "",
        "| 項目 | 内容 |", "|---|---|",
        f"| 自治体コード | {doc['municipality']['code']} |",
        f"| 廃棄案件ID | `{batch['id']}` |",
        f"| 適用した保存年限表 | 第{schedule['version']}版（{_day(schedule['effectiveFrom'])}施行） |",
        f"| 廃棄対象の判定日 | {_day(batch['evaluatedOn'])} |",
        f"| 起案者 | {batch['proposedBy']}（{_moment(batch['proposedAt'])}） |",
        f"| 承認者 | {batch['approvedBy']}（{_moment(batch['approvedAt'])}） |",
        f"| 二人承認 | {'要（起案者以外が承認）' if batch['twoPersonApproval'] else '不要'} |",
        f"| 廃棄した世帯数 | {totals['households']} |",
        f"| 廃棄した記録の件数 | {totals['records']} |",
        f"| 対象外とした世帯数 | {totals['skipped']} |",
        f"| 証明日時 | {_moment(doc['issuedAt'])} |", "",
        "## 記録の種類別件数と保存年限", "",
        "| 記録の種類 | 保存年限 | 廃棄件数 |", "|---|---|---|",
        *(f"| {RECORD_CLASSES.get(name, name)} | {years.get(name, '—')} | "
          f"{totals['byClass'].get(name, 0)} |"
          for name in [*RECORD_CLASSES, *sorted(set(schedule["years"]) - set(RECORD_CLASSES))]
          if name in schedule["years"]),
        "", "## 廃棄した世帯", "",
    ]
    for h in doc["households"]:
        key = h["key"]
        lines += [
            f"### 世帯 `{h['householdId']}`", "",
            f"- ケース終結日: {_day(h['closedOn'])}／廃棄可能日: {_day(h['dueOn'])}",
            f"- 廃棄日時: {_moment(h['disposedAt'])}",
            f"- 暗号鍵: 消去済み（{_moment(key['destroyedAt'])}、household_keys の wrapped_key は"
            f" {'空（NULL）' if key['wrappedKey'] is None else '残存'}）、"
            + (f"鍵暗号化鍵 第{key['kekVersion']}版は"
               f"{'廃止済み' if key['kekVersionRetired'] else '未廃止'}"
               if key["kekVersion"] is not None else "鍵暗号化鍵の版は記録なし（実行前に消去済み）"),
            f"- 閲覧用データの消去: {', '.join(h['readModelsPurged']) or '—'}",
            f"- 添付ファイル等の削除: {h['objectsDeleted']}件", "",
            "| 記録ID | 記録の種類 | 区分 |", "|---|---|---|",
            *(f"| `{r['id']}` | {RECORD_CLASSES.get(r['class'], r['class'])} | {r['kind']} |"
              for r in h["records"]), "",
        ]
    if doc["skipped"]:
        lines += ["## 対象外とした世帯", "", "| 世帯ID | 理由 |", "|---|---|",
                  *(f"| `{s['householdId']}` | {SKIP_REASONS.get(s['reason'], s['reason'])} |"
                    for s in doc["skipped"]), ""]
    rotation = doc["tenantKey"]
    if rotation:
        retired = "、".join(f"第{r['version']}版" for r in rotation["retired"]) or "—"
        lines += ["## 鍵暗号化鍵（自治体鍵）の更新", "",
                  f"- 方式: {rotation['provider']}／新しい版: 第{rotation['version']}版"
                  f"（{_moment(rotation['at'])}）",
                  f"- 廃止した版: {retired}／有効な版: "
                  f"{'、'.join(f'第{v}版' for v in rotation['liveVersions'])}",
                  f"- 再暗号化した世帯鍵: {rotation['rewrapped']}件", ""]
    lines += ["## 署名", "",
              f"- 署名方式: {signature['algorithm']}／鍵ID: `{signature['keyId']}`",
              f"- 証明書ファイルの SHA-256: `{digest(data)}`",
              "- 検証: `yorisoi disposal verify-certificate <ファイル> --public-key <公開鍵PEM>`"
              "（1バイトでも改変されたファイルは検証に失敗する）", ""]
    return "\n".join(lines)
