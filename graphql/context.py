"""The GraphQL context: the verified principal and the services, per request."""

from __future__ import annotations

from fastapi import HTTPException, Request
from opentelemetry import trace
from strawberry.fastapi import BaseContext

from yorisoi.infra.bootstrap import Services
from yorisoi.infra.identity import AuthenticationError, bearer_token
from yorisoi.infra.middleware import verify_token
from yorisoi.infra.telemetry import client_request_id, current_trace_id, tag_tenant
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

    def __init__(self, services: Services, principal: Principal | None, request_id: str) -> None:
        super().__init__()
        self.services = services
        self.principal = principal
        self.request_id = request_id
        # Who may read personal fields where in this request, and what was read
        # (made current for every resolver by graphql/personal_reads.py).
        self.personal_access = PersonalAccess("graphql")

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
    services: Services = request.app.state.services
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
    return YorisoiContext(services, principal, request_id)
