"""A municipality's consultation themes: the national list plus its own additions.

Anyone who may read cases may read the list (they choose themes from it);
only the municipality's own admins and supervisors change it.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import strawberry
from strawberry.types import Info

from yorisoi.domain.themes import MAX_LABEL
from yorisoi.domain.themes import Theme as ThemeValue
from yorisoi.graphql.commands import execute
from yorisoi.graphql.context import YorisoiContext
from yorisoi.graphql.errors import (
    ConflictError,
    NotAuthorizedError,
    ValidationError,
    api_error,
)
from yorisoi.graphql.validation import Checker
from yorisoi.tenants.access import Grant
from yorisoi.tenants.runtime import TenantRuntime


@strawberry.type(description="A consultation theme (相談内容の分類).")
class Theme:
    code: str
    label_ja: str
    label_en: str | None
    standard: bool = strawberry.field(description="On the national list (cannot be retired)")
    retired: bool = strawberry.field(description="Still valid on old records, refused for new ones")

    @classmethod
    def from_value(cls, t: ThemeValue) -> Theme:
        return cls(code=t.code, label_ja=t.label_ja, label_en=t.label_en, standard=t.standard,
                   retired=t.retired)


@strawberry.type
class ThemesChanged:
    themes: list[Theme]


ThemeChangeResult = Annotated[
    ThemesChanged | ValidationError | NotAuthorizedError | ConflictError,
    strawberry.union("ThemeChangeResult"),
]


@strawberry.input
class AddThemeInput:
    municipality_code: str
    code: str = strawberry.field(description="2–40 of a-z, 0-9 and _, starting with a letter")
    label_ja: str
    label_en: str | None = None


@strawberry.input
class RetireThemeInput:
    municipality_code: str
    code: str


def _changed(rt: TenantRuntime) -> ThemesChanged:
    return ThemesChanged(themes=[Theme.from_value(t) for t in rt.casework.themes()])


@strawberry.type
class ThemeQuery:
    @strawberry.field(description="The municipality's consultation themes, retired ones included.")
    async def themes(
        self, info: Info[YorisoiContext, None],
        municipality_code: Annotated[str | None, strawberry.argument(
            description="Defaults to the caller's own municipality; contractors must name one.")] = None,
    ) -> list[Theme]:
        def run() -> list[Theme]:
            grant = info.context.authorize("case.read", municipality_code)
            with info.context.services.runtimes.lease(grant.municipality_code) as rt:
                return [Theme.from_value(t) for t in rt.casework.themes()]

        try:
            return await asyncio.to_thread(run)
        except Exception as exc:  # noqa: BLE001 - expected errors become typed GraphQL errors
            raise api_error(exc) from None


@strawberry.type
class ThemeMutation:
    @strawberry.mutation(description="Add a theme of the municipality's own.")
    async def add_theme(self, info: Info[YorisoiContext, None],
                        input: AddThemeInput) -> ThemeChangeResult:
        check = Checker(info.context.services.settings.max_text_length)
        code = check.required("code", input.code, 40)
        label_ja = check.required("labelJa", input.label_ja, MAX_LABEL)
        label_en = check.text("labelEn", input.label_en, MAX_LABEL) or None

        def command(rt: TenantRuntime, grant: Grant) -> ThemesChanged:
            rt.casework.add_theme(code=code, label_ja=label_ja, label_en=label_en)
            return _changed(rt)

        return await execute(info, "taxonomy.manage", input.municipality_code, command,
                             check=check)

    @strawberry.mutation(description="Retire a theme the municipality added (kept on old records).")
    async def retire_theme(self, info: Info[YorisoiContext, None],
                           input: RetireThemeInput) -> ThemeChangeResult:
        check = Checker(info.context.services.settings.max_text_length)
        code = check.required("code", input.code, 40)

        def command(rt: TenantRuntime, grant: Grant) -> ThemesChanged:
            rt.casework.retire_theme(code=code)
            return _changed(rt)

        return await execute(info, "taxonomy.manage", input.municipality_code, command,
                             check=check)
