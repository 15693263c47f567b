"""Persisted queries: a committed allow-list of operations, by SHA-256.

The manifest ``graphql/persisted_queries.json`` maps the SHA-256 (hex) of each
document to the document, generated from the ``.graphql`` files under
``graphql/operations/`` by ``yorisoi graphql persist`` (and checked in CI by
``yorisoi graphql persist --check`` / tests/graphql/test_persisted_queries.py).

A request may name an operation instead of sending it: Apollo's
``extensions.persistedQuery.sha256Hash`` or the GraphQL-over-HTTP
``documentId`` (``"sha256:<hex>"`` or the bare hex).  In ``allow_list`` mode
(``YORISOI_GRAPHQL_PERSISTED_QUERIES=allow_list``) nothing else runs: a raw
document is accepted only when it is byte for byte a manifest entry.  In
``off`` mode raw documents run as before and manifest hashes still resolve.

Refusals answer HTTP 200 with a GraphQL error (``data: null``) whose
``extensions`` carry ``code`` and ``messageJa``, like every other query error,
so GraphQL clients surface them the usual way; nothing is parsed or executed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from cross_web import AsyncHTTPRequestAdapter
from cross_web import HTTPException as StrawberryHTTPException
from fastapi import BackgroundTasks, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, request_response
from strawberry.exceptions import InvalidCustomContext
from strawberry.fastapi import BaseContext, GraphQLRouter
from strawberry.http import GraphQLRequestData
from strawberry.types import ExecutionResult

from yorisoi.graphql.errors import ApiError

MANIFEST_PATH = Path(__file__).with_name("persisted_queries.json")
OPERATIONS_DIR = Path(__file__).with_name("operations")
Mode = Literal["off", "allow_list"]


def document_hash(document: str) -> str:
    """The id of a document: SHA-256 of its UTF-8 text, lower-case hex."""
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


def not_allowed() -> ApiError:
    return ApiError("persisted_query_not_allowed",
                    "Only registered operations are accepted: send the id of a persisted query.",
                    "登録済みの操作のみ受け付けます。永続化クエリのIDを送信してください。")


def not_found() -> ApiError:
    return ApiError("persisted_query_not_found",
                    "No registered operation has this id.",
                    "このIDの登録済み操作はありません。")


def hash_mismatch() -> ApiError:
    return ApiError("persisted_query_hash_mismatch",
                    "The document does not match the id sent with it.",
                    "送信された文書とIDが一致しません。")


def id_invalid() -> ApiError:
    return ApiError("persisted_query_invalid",
                    "A persisted query id must be a SHA-256 in hex (optionally 'sha256:…').",
                    "永続化クエリのIDはSHA-256の16進表記（'sha256:…'も可）で指定してください。")


def _requested_id(raw: Mapping[str, Any] | None,
                  extensions: Mapping[str, Any] | None) -> object | None:
    """The id a request names, if any (documentId wins over the Apollo extension)."""
    document_id = raw.get("documentId") if raw else None
    if document_id is not None:
        return document_id
    if "persistedQuery" not in (extensions or {}):
        return None
    persisted = extensions["persistedQuery"]  # type: ignore[index]
    # Present but without a usable hash: an invalid id, never "no id".
    found = persisted.get("sha256Hash") if isinstance(persisted, Mapping) else persisted
    return found if found is not None else 0


def _may_name_document(body: str | bytes) -> bool:
    if isinstance(body, str):
        return "documentId" in body or "\\u" in body
    return b"documentId" in body or b"\\u" in body


def _normalised_id(value: object) -> str:
    if not isinstance(value, str):
        raise id_invalid()
    value = value.removeprefix("sha256:").lower()
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise id_invalid()
    return value


@dataclasses.dataclass(frozen=True)
class PersistedQueries:
    """The manifest and the mode: turns a request into the document to run."""

    mode: Mode
    documents: Mapping[str, str]

    @classmethod
    def load(cls, mode: Mode, path: Path | None = None) -> PersistedQueries:
        path = path or MANIFEST_PATH
        documents = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        if mode == "allow_list" and not documents:
            # Allow-list mode with nothing on the list would refuse every request.
            raise ValueError(f"allow_list mode needs a persisted-query manifest: {path}")
        for key, document in documents.items():
            if document_hash(document) != key:
                raise ValueError(f"persisted-query manifest entry {key[:12]}… does not match "
                                 "its document; regenerate it with `yorisoi graphql persist`")
        return cls(mode=mode, documents=documents)

    def resolve(self, query: str | None, extensions: Mapping[str, Any] | None,
                raw: Mapping[str, Any] | None = None) -> str | None:
        """The document to run, or ApiError.  None when the request has no document
        at all (the GraphQL layer answers that as it always does)."""
        requested = _requested_id(raw, extensions)
        if requested is not None:
            key = _normalised_id(requested)
            if query is not None and document_hash(query) != key:
                raise hash_mismatch()
            document = self.documents.get(key)
            if document is not None:
                return document
            if self.mode == "off" and query is not None:
                return query  # automatic persisted queries: the client sent the document too
            raise not_found()
        if query is not None and self.mode == "allow_list" and \
                document_hash(query) not in self.documents:
            raise not_allowed()
        return query


@dataclasses.dataclass
class _Refused(GraphQLRequestData):
    """A request refused before parsing; execute_single answers it with the error."""

    error: ApiError | None = None


class PersistedQueryRouter(GraphQLRouter):
    """strawberry's FastAPI router, resolving persisted queries before execution."""

    def __init__(self, *args: Any, persisted: PersistedQueries,
                 ide_html: Callable[[], str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.persisted = persisted
        # The HTTP entry point's GraphiQL page (infra/http/offline_assets.py), given
        # rather than imported: graphql/ does not import the entry points.
        self._ide_html = ide_html
        self._serve_posts_directly(kwargs.get("context_getter"),
                                   kwargs.get("root_value_getter"))

    @property
    def graphql_ide_html(self) -> str:
        """GraphiQL loading its scripts from this server, not a CDN (works without the internet)."""
        return self._ide_html() if self._ide_html is not None else super().graphql_ide_html

    # -- POST without dependency injection -------------------------------------

    def _serve_posts_directly(self, context_getter: Any, root_value_getter: Any) -> None:
        """Answer POSTs without FastAPI resolving the route's dependencies per request.

        strawberry declares the context as a dependency of a dependency
        (request, response, background tasks, the context getter, the root
        value): FastAPI resolves those four per request, ~4% of the case list's
        CPU.  When the context getter takes only the request and there is no
        root value getter, the POST route keeps its APIRoute (matching, OpenAPI
        and middleware see the same route) and only its handler is replaced by
        one that does what the dependencies did, in the same order: the context
        from the getter (its HTTPException answered by the app's handlers, as
        before), then request, background tasks and sub-response set on it.
        """
        if root_value_getter is not None or not _takes_only_request(context_getter):
            return
        self._context_of = context_getter
        for route in self.routes:
            if isinstance(route, APIRoute) and route.methods == {"POST"}:
                # The route served directly, and the handler FastAPI wraps again when
                # the router is included in the app (routing._EffectiveRouteContext).
                route.get_route_handler = lambda: self._handle_post  # type: ignore[method-assign]
                route.app = request_response(self._handle_post)

    async def _handle_post(self, request: Request) -> Response:
        sub_response = Response()  # as FastAPI makes it for a ``response`` parameter
        del sub_response.headers["content-length"]
        sub_response.status_code = None  # type: ignore[assignment]
        background_tasks = BackgroundTasks()
        context = await self._context_of(request)
        if not isinstance(context, BaseContext):
            raise InvalidCustomContext
        context.request = request
        context.background_tasks = background_tasks
        context.response = sub_response
        # On the request, not only on the router (strawberry's own handler shares
        # ``temporal_response`` between concurrent requests).
        request.state.graphql_sub_response = sub_response
        self.temporal_response = sub_response
        try:
            response = await self.run(request=request, context=context, root_value=None)
        except StrawberryHTTPException as e:
            return refusal_response(e)
        if response.background is None:  # as FastAPI does with a route's background tasks
            response.background = background_tasks
        return response

    async def get_sub_response(self, request: Request) -> Response:
        own = getattr(request.state, "graphql_sub_response", None)
        return own if own is not None else self.temporal_response

    def parse_json(self, data: str | bytes) -> Any:
        # strawberry reads ``data.get("query")`` next: a null, a number or a string
        # there was an AttributeError, a 500.
        parsed = super().parse_json(data)
        if not isinstance(parsed, (dict, list)):
            raise StrawberryHTTPException(400, NOT_AN_OBJECT)
        return parsed

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter,
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        parsed = await super().parse_http_body(request)
        for data in parsed if isinstance(parsed, list) else [parsed]:
            if not isinstance(data.operation_name, (str, type(None))):
                raise StrawberryHTTPException(400, OPERATION_NAME_NOT_STRING)
        raw: Any = None
        if request.method == "POST" and "json" in (request.content_type or ""):
            # documentId is not part of strawberry's request data; the body is cached.
            # Parsed a second time only if it can name one (spelt out or \u-escaped).
            body = await request.get_body()
            if _may_name_document(body):
                raw = self.parse_json(body)
        if isinstance(parsed, list):
            raws = raw if isinstance(raw, list) else [None] * len(parsed)
            return [self._resolved(p, r) for p, r in zip(parsed, raws, strict=False)]
        return self._resolved(parsed, raw)

    def _resolved(self, data: GraphQLRequestData, raw: Any) -> GraphQLRequestData:
        try:
            query = self.persisted.resolve(data.query, data.extensions,
                                           raw if isinstance(raw, Mapping) else None)
        except ApiError as error:
            return _Refused(query=None, variables=None, operation_name=None, extensions=None,
                            protocol=data.protocol, error=error)
        return dataclasses.replace(data, query=query)

    async def execute_single(self, request: Any, request_adapter: Any, sub_response: Any,
                             context: Any, root_value: Any,
                             request_data: GraphQLRequestData) -> ExecutionResult:
        if isinstance(request_data, _Refused) and request_data.error is not None:
            return ExecutionResult(data=None, errors=[request_data.error])
        return await super().execute_single(request, request_adapter, sub_response, context,
                                            root_value, request_data)


# strawberry's refusals of a request (HTTP 4xx, English text only), and ours, as typed
# errors: reason -> (code, Japanese).
NOT_AN_OBJECT = "A GraphQL request must be a JSON object."
OPERATION_NAME_NOT_STRING = "The GraphQL operation's `operationName` must be a string or null."
_REFUSALS: dict[str, tuple[str, str]] = {
    NOT_AN_OBJECT: ("graphql_request_not_object",
                    "GraphQLのリクエストはJSONのオブジェクトで送信してください。"),
    OPERATION_NAME_NOT_STRING: ("graphql_request_invalid",
                                "operationNameは文字列またはnullで指定してください。"),
    "Unable to parse request body as JSON": ("request_body_not_json",
                                             "リクエストの本文が正しいJSONではありません。"),
    "Batching is not enabled": ("graphql_batching_disabled",
                                "複数の操作をまとめて送信することはできません。"),
    "No GraphQL query found in the request": ("graphql_query_missing",
                                              "GraphQLの操作（query）がありません。"),
    "Unsupported content type": ("unsupported_content_type",
                                 "Content-Typeはapplication/jsonを指定してください。"),
}


def refusal_response(error: StrawberryHTTPException) -> Response:
    """A refused request's typed error, like the app's other 4xx (``detail``)."""
    code, message_ja = _REFUSALS.get(error.reason, (
        "graphql_request_invalid" if error.status_code < 500 else "internal_error",
        "GraphQLのリクエストの形式が正しくありません。" if error.status_code < 500
        else "システム内部でエラーが発生しました。"))
    # strawberry's reasons are its own fixed sentences (they name fields, never values).
    return JSONResponse(status_code=error.status_code, content={"detail": {
        "code": code, "message": error.reason, "messageJa": message_ja}})


def _takes_only_request(getter: Any) -> bool:
    """An ``async def getter(request)``: one the POST handler can call itself."""
    if getter is None or not inspect.iscoroutinefunction(getter):
        return False
    return list(inspect.signature(getter).parameters) == ["request"]


# --------------------------------------------------------------------------- manifest


def operation_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*.graphql") if p.is_file())


def read_document(path: Path) -> str:
    """A file's document as persisted: its text without surrounding blank space."""
    return path.read_text(encoding="utf-8").strip()


def build_manifest(files: Iterable[Path]) -> tuple[dict[str, str], list[str]]:
    """(hash -> document, problems): every document must validate against the schema."""
    from graphql import GraphQLError, parse, validate
    from yorisoi.graphql.schema import build_schema

    schema = build_schema(production=False)._schema
    manifest: dict[str, str] = {}
    problems: list[str] = []
    for path in files:
        document = read_document(path)
        try:
            errors = validate(schema, parse(document))
        except GraphQLError as error:
            errors = [error]
        if errors:
            problems.extend(f"{path.name}: {e.message}" for e in errors)
            continue
        manifest[document_hash(document)] = document
    return dict(sorted(manifest.items())), problems


def manifest_text(manifest: Mapping[str, str]) -> str:
    return json.dumps(dict(sorted(manifest.items())), ensure_ascii=False, indent=2) + "\n"
