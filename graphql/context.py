"""The GraphQL context: the verified principal and the services, per request."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from fastapi import HTTPException, Request
from opentelemetry import trace
from strawberry.fastapi import BaseContext

from yorisoi.infra.identity import AuthenticationError, bearer_token, verify_token
from yorisoi.infra.telemetry import client_request_id, current_trace_id, tag_tenant
from yorisoi.services.idempotency import (
    IdempotencyKeyInvalidError,
    IdempotentRequest,
    request_digest,
)
from yorisoi.services.personal_access import PersonalAccess
from yorisoi.tenants.access import (
    AccessDeniedError,
    Action,
    Grant,
    Principal,
    authorize,
)
from yorisoi.tenants.reading import admit


class YorisoiContext(BaseContext):
    """Who is asking (verified), and the way to the tenant's services."""

    # ``services``: the process's Services (infra/wiring/bootstrap.py), typed Any here:
    # graphql/ does not import the wiring that builds it.
    def __init__(self, services: Any, principal: Principal | None, request_id: str) -> None:
        super().__init__()
        self.services = services
        self.principal = principal
        self.request_id = request_id
        # Who may read personal fields where in this request, and what was read
        # (made current for every resolver by graphql/personal_reads.py).
        self.personal_access = PersonalAccess("graphql")
        # Set when the request carries an Idempotency-Key: its commands run exactly once.
        self.idempotency: IdempotentRequest | None = None

    def authorize(self, action: Action, municipality_code: str | None, *,
                  site_id: str | None = None) -> Grant:
        """The grant for this action, or AccessDeniedError / AuthenticationError."""
        if self.principal is None:
            raise AuthenticationError("token_missing")
        if municipality_code is None:
            if self.principal.tenant_kind != "municipality":
                raise AccessDeniedError(
                    "municipality_required",
                    "Name the municipality (municipalityCode): a contractor works in several.",
                    "自治体コード（municipalityCode）を指定してください。")
            municipality_code = self.principal.tenant_id  # a municipality's own space
        grant = authorize(self.principal, action, municipality_code,
                          self.services.directory.registry, site_id=site_id,
                          request_id=self.request_id, trace_id=current_trace_id())
        tag_tenant(trace.get_current_span(), getattr(self.request, "state", None), grant)
        admit(self.services, self.personal_access, grant)
        return grant


async def get_context(request: Request) -> YorisoiContext:
    """Verify the bearer token (if any); a token that fails verification is a 401."""
    services = request.app.state.services
    request_id = client_request_id(request.headers.get("x-request-id"))
    header = request.headers.get("authorization")
    principal = None
    verified = getattr(request.state, "verified_principal", None)  # by the rate limiter
    if header and verified is not None and verified[0] == header:
        principal = verified[1]
    elif header:
        try:
            # Verification may read the registry or fetch a JWKS: off the event loop
            # unless memory answers (verify_token decides).
            token = await verify_token(services, bearer_token(header))
            principal = Principal.from_token(token)
        except AuthenticationError as error:
            status = 503 if error.code == "issuer_unavailable" else 401
            raise HTTPException(
                status_code=status,
                detail={"code": error.code, "message": error.message,
                        "messageJa": error.message_ja},
                headers={"WWW-Authenticate": f'Bearer error="invalid_token", '
                                             f'error_description="{error.code}"'},
            ) from None
    context = YorisoiContext(services, principal, request_id)
    key = request.headers.get("idempotency-key")
    if key is not None and request.method == "POST":
        context.idempotency = keyed_request(principal, key, "graphql", await request.body())
    return context


def caller_of(principal: Principal | None) -> str:
    """Whose keys these are: a key means something only to the one who sent it."""
    if principal is None:
        return "anonymous"
    return f"{principal.tenant_kind}:{principal.tenant_id}:{principal.subject}"


def keyed_request(principal: Principal | None, key: str, route: str,
                  body: bytes) -> IdempotentRequest:
    """The request's idempotency scope; a malformed key is a 400 with a typed error."""
    try:
        asked: object = json.loads(body)
    except ValueError:  # not JSON: the bytes themselves are what was asked
        asked = hashlib.sha256(body).hexdigest()
    try:
        return IdempotentRequest.of(caller_of(principal), key, request_digest(route, asked))
    except IdempotencyKeyInvalidError as error:
        raise HTTPException(status_code=400, detail={
            "code": error.code, "message": error.message, "messageJa": error.message_ja,
        }) from None
