"""The offline pages' words (Japanese first, English beside), in one place.

The offline app's script shows them too: the shell page hands them over as a JSON
block, so the device speaks the signed-in person's language without the network.
"""

from __future__ import annotations

WORDS: dict[str, tuple[str, str]] = {
    # the pack page (online)
    "pack.title": ("Take cases offline", "オフラインで持ち出す"),
    "pack.intro": ("Choose the cases of today's visits. They are kept on this device only "
                   "sealed, opened with a key the server gives this device while you are "
                   "signed in. Taking them out is recorded in the access log.",
                   "今日の訪問で使うケースを選んでください。端末には暗号化して保存し、"
                   "サインイン中にサーバーがこの端末に渡す鍵でのみ開けます。"
                   "持ち出しはアクセス記録に残ります。"),
    "pack.cases": ("Cases to take", "持ち出すケース"),
    "pack.take": ("Take these cases offline", "選んだケースを持ち出す"),
    "pack.taken": ("Taken offline: {n} cases. Open the offline pages.",
                   "{n}件のケースを持ち出しました。オフライン画面を開いてください。"),
    "pack.open_app": ("Open the offline pages", "オフライン画面を開く"),
    "pack.none": ("No open cases to take.", "持ち出せる対応中のケースはありません。"),
    "device.title": ("This device", "この端末"),
    "device.label": ("Name of this device", "この端末の名前"),
    "device.label_hint": ("For example 訪問用タブレット: how you will recognise it in the list.",
                          "例: 訪問用タブレット（一覧で見分けるための名前）"),
    "device.register": ("Register this device", "この端末を登録する"),
    "device.registered": ("This device is registered as “{label}”.",
                          "この端末は「{label}」として登録されています。"),
    "device.unregistered": ("This device is not registered for offline work yet.",
                            "この端末はまだオフライン作業用に登録されていません。"),
    "device.list": ("Registered devices", "登録済みの端末"),
    "device.owner": ("Used by", "利用者"),
    "device.registered_at": ("Registered", "登録日時"),
    "device.state": ("State", "状態"),
    "device.live": ("In use", "利用中"),
    "device.revoked": ("Revoked", "取消済み"),
    "device.revoke": ("Revoke", "登録を取り消す"),
    "device.none": ("No devices registered.", "登録済みの端末はありません。"),
    "device.revoked_done": ("The device's registration was revoked: it gets no key any more.",
                            "端末の登録を取り消しました。この端末にはもう鍵が渡されません。"),
    "nojs": ("Offline work needs JavaScript in this browser.",
             "オフライン作業にはブラウザーのJavaScriptが必要です。"),
    # the offline app (works without the network)
    "app.title": ("Offline work", "オフライン作業"),
    "app.online": ("Online", "オンライン"),
    "app.offline": ("Offline: drafts are kept sealed on this device and sent when the "
                    "connection is back.",
                    "オフラインです。下書きはこの端末に暗号化して保存し、接続が戻ったら送信します。"),
    "app.locked": ("Locked: the key is not on this device. Connect and sign in to open the "
                   "cases and send the drafts.",
                   "ロック中です。この端末に鍵がありません。接続してサインインすると、"
                   "ケースを開き、下書きを送信できます。"),
    "app.revoked": ("This device's registration was revoked: what it holds cannot be opened.",
                    "この端末の登録は取り消されています。端末に残ったデータは開けません。"),
    "app.no_pack": ("No cases taken offline on this device.",
                    "この端末に持ち出したケースはありません。"),
    "app.cases": ("Cases taken offline", "持ち出したケース"),
    "app.queue": ("Drafts waiting to be sent", "送信待ちの下書き"),
    "app.queue_none": ("No drafts waiting.", "送信待ちの下書きはありません。"),
    "app.sync": ("Send drafts now", "下書きを今すぐ送信"),
    "app.synced": ("Sent: {n}.", "{n}件を送信しました。"),
    "app.conflicts": ("Conflicts to decide", "確認が必要な競合"),
    "app.new_case": ("Register a new family (with consent)", "新しい世帯を登録（同意あり）"),
    "app.consultation": ("Record a consultation", "相談を記録"),
    "app.note": ("Write a support note", "支援記録を書く"),
    "app.save_draft": ("Save the draft", "下書きを保存"),
    "app.draft_saved": ("Draft saved (sealed on this device).",
                        "下書きを保存しました（この端末に暗号化して保存）。"),
    "app.back": ("Back to the list", "一覧に戻る"),
    "app.captured_at": ("Captured", "記録した日時"),
    "app.status.waiting": ("Waiting", "送信待ち"),
    "app.status.conflict": ("Conflict", "競合"),
    "app.status.refused": ("Refused", "受け付けられません"),
    "kind.consultation": ("Consultation", "相談"),
    "kind.note": ("Support note", "支援記録"),
    "kind.new_case": ("New family", "新しい世帯"),
    "kind.visit_outcome": ("Visit outcome", "訪問の結果"),
    "conflict.closed": ("The case was closed meanwhile.", "その後、ケースが終結しました。"),
    "conflict.handed_over": ("The case was handed over to another contract meanwhile.",
                             "その後、ケースが別の委託契約に引き継がれました。"),
    "conflict.out_of_reach": ("The case is no longer within your reach (handed over or "
                              "disposed).",
                              "このケースはあなたの担当範囲から外れました（引継ぎまたは廃棄）。"),
    "conflict.disposed": ("The family's records were disposed of.",
                          "その後、世帯の記録が廃棄されました。"),
    "conflict.consent_withdrawn": ("The family withdrew its consent meanwhile.",
                                   "その後、家族が同意を撤回しました。"),
    "conflict.corrected": ("A record of the case was corrected meanwhile.",
                           "その後、ケースの記録が訂正されました。"),
    "conflict.added": ("Someone recorded on the case meanwhile.",
                       "その後、ほかの職員がケースに記録しました。"),
    "conflict.changed": ("The case changed meanwhile.", "その後、ケースが変更されました。"),
    "conflict.duplicate": ("This family may already be registered ({n} likely).",
                           "この世帯はすでに登録されている可能性があります（候補{n}件）。"),
    "conflict.yours": ("Your draft", "あなたの下書き"),
    "conflict.theirs": ("The case now", "現在のケース"),
    "conflict.rule": ("Rule", "ルール"),
    "conflict.record_anyway": ("Record anyway", "このまま記録する"),
    "conflict.reason": ("Reason for recording anyway", "このまま記録する理由"),
    "conflict.attach": ("Attach to another case", "別のケースに記録する"),
    "conflict.attach_to": ("Case to attach to", "記録先のケース"),
    "conflict.discard": ("Discard the draft", "下書きを破棄する"),
    "conflict.discarded": ("Draft discarded.", "下書きを破棄しました。"),
    "conflict.reason_missing": ("Say why the record is kept.", "記録する理由を入力してください。"),
    "case.status.opened": ("Open", "受付"),
    "case.status.active": ("In progress", "対応中"),
    "case.status.closed": ("Closed", "終結"),
    "case.consent_yes": ("Consent to keep records: in force",
                         "記録の作成についての同意: あり"),
    "case.consent_no": ("Consent to keep records: none in force",
                        "記録の作成についての同意: なし（撤回を含む）"),
    "field.occurredOn": ("Date", "実施日"),
    "field.channel": ("Channel", "方法"),
    "field.themes": ("Themes", "相談内容の分類"),
    "field.asked": ("What was asked", "相談内容（主訴）"),
    "field.wishes": ("Wishes", "本人の希望"),
    "field.direction": ("Direction", "今後の方針"),
    "field.writtenOn": ("Date", "記録日"),
    "field.kind": ("Kind", "記録の種類"),
    "field.body": ("Note", "記録の内容"),
    "field.siteId": ("Site", "実施場所"),
    "field.guardian": ("Guardian's name", "保護者の氏名"),
    "field.relationship": ("Relationship", "続柄"),
    "field.child": ("Child's name", "子どもの氏名"),
    "field.birthDate": ("Child's birth date", "子どもの生年月日"),
    "field.givenBy": ("Consent given by", "同意した人"),
    "field.consentRelationship": ("Their relationship", "同意した人の続柄"),
    "field.scope": ("Scope of the consent", "同意の範囲"),
    "error.required": ("Required.", "必須項目です。"),
    "error.network": ("Could not reach the server: the draft stays queued.",
                      "サーバーに接続できませんでした。下書きは送信待ちのまま保存されています。"),
    "error.signin": ("Sign in again to send the drafts.",
                     "下書きを送信するには、もう一度サインインしてください。"),
}


def word(key: str, lang: str, **values: object) -> str:
    en, ja = WORDS[key]
    text = ja if lang == "ja" else en
    return text.format(**values) if values else text


def words(lang: str) -> dict[str, str]:
    return {key: (ja if lang == "ja" else en) for key, (en, ja) in WORDS.items()}
