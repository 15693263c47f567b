"""What a request body must be before anything parses it: small enough, and sound JSON.

The checks run in ``infra/middleware.RequestGuardMiddleware`` for every route, so a
malformed body answers 4xx with a typed error whichever handler it was meant for
(strawberry, FastAPI's own body parsing, the console's forms).  Without them, a JSON
``null`` reached strawberry's ``data.get``, invalid UTF-8 escaped ``json.loads`` as a
UnicodeDecodeError, 100,000 nested brackets as a RecursionError and a lone surrogate
(``"\\ud800"``) the database driver's encoder: 500s, each of them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from yorisoi.infra.settings import Settings


@dataclass(frozen=True)
class BodyLimits:
    """The limits of ``Settings`` (``max_request_body_bytes`` and friends)."""

    body_bytes: int = 1024 * 1024
    upload_bytes: int = 11 * 1024 * 1024
    json_depth: int = 64

    @classmethod
    def from_settings(cls, settings: Settings) -> BodyLimits:
        return cls(body_bytes=settings.max_request_body_bytes,
                   upload_bytes=settings.max_upload_body_bytes,
                   json_depth=settings.max_json_depth)

    def for_content_type(self, content_type: str) -> int:
        return self.upload_bytes if is_multipart(content_type) else self.body_bytes


@dataclass(frozen=True)
class BodyProblem:
    """Why a body is refused: an HTTP status and a bilingual typed error."""

    status: int
    code: str
    message: str
    message_ja: str

    def body(self) -> dict[str, Any]:
        return {"detail": {"code": self.code, "message": self.message,
                           "messageJa": self.message_ja}}


def too_large(limit: int) -> BodyProblem:
    size = f"{limit // (1024 * 1024)} MiB" if limit >= 1024 * 1024 else f"{limit // 1024} KiB"
    return BodyProblem(413, "request_too_large", f"The request body is larger than {size}.",
                       f"リクエストの本文が上限（{size}）を超えています。")


NOT_UTF8 = BodyProblem(400, "request_body_not_utf8", "The request body is not valid UTF-8.",
                       "リクエストの本文が正しいUTF-8ではありません。")
NOT_JSON = BodyProblem(400, "request_body_not_json", "The request body is not valid JSON.",
                       "リクエストの本文が正しいJSONではありません。")
LONE_SURROGATE = BodyProblem(
    400, "request_body_lone_surrogate",
    "The request body contains a \\u escape that is not a character (a lone surrogate).",
    "リクエストの本文に文字として扱えない\\uエスケープ（対になっていないサロゲート）が含まれています。")


def too_deep(depth: int) -> BodyProblem:
    return BodyProblem(400, "request_body_too_deep",
                       f"The request body nests arrays and objects deeper than {depth} levels.",
                       f"リクエストの本文の配列・オブジェクトの入れ子が{depth}段を超えています。")


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def is_multipart(content_type: str) -> bool:
    return media_type(content_type).startswith("multipart/")


def is_json(content_type: str) -> bool:
    """Bodies our handlers read as JSON: FastAPI parses a body without a content type
    as JSON too, and strawberry anything whose type mentions ``application/json``."""
    kind = media_type(content_type)
    return not kind or "json" in content_type.lower()


# A \u escape of the surrogate range (D800-DFFF): only these can decode to a lone one.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def json_problem(body: bytes, max_depth: int) -> BodyProblem | None:
    """Why a JSON body is refused, or None.  Parsing it here also keeps any exception
    of ``json.loads`` (RecursionError, ValueError for a 5,000-digit number) from
    reaching a handler that expects only ``JSONDecodeError``."""
    if not body.strip():
        return None  # no body: the handler says what was missing
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return NOT_UTF8
    try:
        document = json.loads(text)
    except RecursionError:
        return too_deep(max_depth)
    except ValueError:  # JSONDecodeError, and numbers beyond int's digit limit
        return NOT_JSON
    # Brackets can only nest as deep as there are brackets: most bodies need no walk.
    deep_enough = body.count(b"[") + body.count(b"{") > max_depth
    surrogates = _SURROGATE_ESCAPE.search(body) is not None
    if deep_enough or surrogates:
        return _walk(document, max_depth)
    return None


def _walk(document: Any, max_depth: int) -> BodyProblem | None:
    """Depth and lone surrogates of a parsed document, without recursion."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if not _encodable(value):
                return LONE_SURROGATE
        elif isinstance(value, (list, dict)):
            if depth > max_depth:
                return too_deep(max_depth)
            if isinstance(value, dict):
                for key, item in value.items():
                    if not _encodable(key):
                        return LONE_SURROGATE
                    stack.append((item, depth + 1))
            else:
                stack.extend((item, depth + 1) for item in value)
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
