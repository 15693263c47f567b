"""Refusals of bundle export, import and restore: a stable code and a message in both languages.

Messages name parts, counts and positions, never a stored value.
"""

from __future__ import annotations

from yorisoi.domain.errors import DomainError


class BundleError(DomainError):
    code = "bundle_invalid"
    message = "The bundle cannot be used."
    message_ja = "バンドルを利用できません。"


class BundleTamperedError(BundleError):
    code = "bundle_tampered"
    message = "The bundle does not match its signed manifest: it was changed or cut short."
    message_ja = "バンドルが署名済みマニフェストと一致しません（改ざんまたは欠損）。"


class BundleSignatureError(BundleError):
    code = "bundle_signature"
    message = "The bundle's manifest is not signed by the expected platform key."
    message_ja = "バンドルのマニフェストが想定したプラットフォーム鍵で署名されていません。"


class BundleChainError(BundleError):
    code = "bundle_chain"
    message = "The bundle's audit ledger does not verify."
    message_ja = "バンドルの監査台帳を検証できません。"


class BundleFormatError(BundleError):
    code = "bundle_format"
    message = "The file is not a tenant bundle of a format this version reads."
    message_ja = "このバージョンで読めるテナントバンドルではありません。"


class BundleTargetExistsError(BundleError):
    code = "bundle_target_exists"
    message = "The municipality already exists here; the bundle was not imported."
    message_ja = "この市区町村はすでに存在するため、バンドルを取り込みませんでした。"


class BundleRecipientError(BundleError):
    code = "bundle_recipient"
    message = "The recipient key does not open this bundle's household keys."
    message_ja = "受取人の鍵ではこのバンドルの世帯鍵を開けません。"


class BundleCodeMismatchError(BundleError):
    code = "bundle_code_mismatch"
    message = ("A bundle is imported as the municipality it holds: its code is in every event, "
               "the audit chain's genesis and every stored object's key.")
    message_ja = ("バンドルは記録された市区町村として取り込みます（市区町村コードは全イベント・"
                  "監査台帳の起点・保存ファイルのキーに含まれます）。")


class TenantNotReadyError(BundleError):
    code = "tenant_key_missing"
    message = ("The municipality's tenant key is missing or does not open its household keys: "
               "restore the key store before serving it.")
    message_ja = ("市区町村のテナント鍵がないか、世帯鍵を開けません。利用再開の前に鍵ストアを"
                  "復元してください。")


class RestoreNotNeededError(BundleError):
    code = "restore_nothing_superseded"
    message = "No checkpoint lies beyond the restored ledger: there is nothing to supersede."
    message_ja = "復元後の台帳を越えるチェックポイントがないため、取り消し記録は不要です。"
