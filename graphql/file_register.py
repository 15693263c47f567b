"""The personal-information file register (個人情報ファイル簿, 法第75条), generated from the schema.

A published document (the municipality must make it public), read here by
the municipality's records officers (``records.manage``).  It holds field
names, labels and policies — no value of any record.
"""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from yorisoi.graphql.commands import read
from yorisoi.graphql.context import YorisoiContext
from yorisoi.infra.clock import japan_today
from yorisoi.services.file_register import build_file_register, render_markdown


@strawberry.type
class FileRegisterItem:
    field: str
    label: str
    personal: bool = strawberry.field(description="Encrypted under the household's key and shredded on disposal")


@strawberry.type
class FileRegisterRecord:
    kind: str
    label: str
    retention: str
    items: list[FileRegisterItem]


@strawberry.type(description="One personal-information file (個人情報ファイル) and its register entry.")
class FileRegisterFile:
    code: str
    name: str
    organisation: str
    purposes: list[str]
    persons: list[str]
    records: list[FileRegisterRecord]
    collection: list[str]
    sensitive: str
    recipients: list[str]
    request_office: str
    file_type: str


@strawberry.type
class FileRegister:
    law: str
    municipality_code: str
    municipality_name: str
    generated_on: str
    files: list[FileRegisterFile]
    sealed_read_models: list[str] = strawberry.field(description="Read-model tables keeping sealed copies")
    warnings: list[str] = strawberry.field(description="Aggregates with personal fields that belong to no file")
    markdown: str = strawberry.field(description="The entry as a Japanese Markdown document, for publication")

    @classmethod
    def of(cls, register: dict[str, Any]) -> FileRegister:
        return cls(
            law=register["law"], municipality_code=register["municipalityCode"],
            municipality_name=register["municipalityName"], generated_on=register["generatedOn"],
            files=[FileRegisterFile(
                code=f["code"], name=f["name"], organisation=f["organisation"],
                purposes=f["purposes"], persons=f["persons"],
                records=[FileRegisterRecord(kind=r["kind"], label=r["label"],
                                            retention=r["retention"],
                                            items=[FileRegisterItem(**i) for i in r["items"]])
                         for r in f["records"]],
                collection=f["collection"], sensitive=f["sensitive"],
                recipients=f["recipients"], request_office=f["requestOffice"],
                file_type=f["fileType"]) for f in register["files"]],
            sealed_read_models=[m["table"] for m in register["sealedReadModels"]],
            warnings=register["warnings"], markdown=render_markdown(register))


@strawberry.type
class FileRegisterQuery:
    @strawberry.field(description="The municipality's 個人情報ファイル簿 entries, generated from the schema.")
    async def personal_information_file_register(self, info: Info[YorisoiContext, None],
                                                 municipality_code: str) -> FileRegister:
        def run() -> FileRegister:
            grant = info.context.authorize("records.manage", municipality_code)
            services = info.context.services
            tenant = services.directory.registry.tenant(grant.municipality_code)
            with services.runtimes.lease(grant.municipality_code) as rt:
                register = build_file_register(
                    rt.casework, today=japan_today(),
                    municipality_name=tenant.name if tenant else grant.municipality_code)
            return FileRegister.of(register)

        return await read(run)
