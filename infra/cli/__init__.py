"""The ``yorisoi`` command: serve, worker, provisioning, dev tokens, demo data, rebuilds.

An operator's daily tool, so it starts fast: this module and every sub-app
module of this package import only typer and rich at the top; the platform (database,
event store, object storage, GraphQL, the web app) is imported inside the
command that needs it.  ``tests/deploy/test_cli_imports.py`` keeps it so.

Results go to stdout (``console``), progress and refusals to stderr (``err``).
Exit codes: 0 done, 1 the command ran and found a problem, 2 a refusal or
a usage error (README, "The command line").
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.console import Console

from yorisoi.infra.cli.audit import audit_app
from yorisoi.infra.cli.bundle import register as register_bundle_commands
from yorisoi.infra.cli.citus import add_citus_commands
from yorisoi.infra.cli.dsr import records_app
from yorisoi.infra.cli.graphql import graphql_app
from yorisoi.infra.cli.records import disposal_app
from yorisoi.infra.cli.reports import reports_app
from yorisoi.infra.cli.storage import storage_app

if TYPE_CHECKING:
    from yorisoi.infra.wiring.bootstrap import Services

app = typer.Typer(help="Yorisoi: records of 利用者支援事業.", no_args_is_help=True)
platform_app = typer.Typer(help="The shared platform space.", no_args_is_help=True)
tenant_app = typer.Typer(help="Register and provision tenants.", no_args_is_help=True)
projections_app = typer.Typer(help="Read models: status and rebuilds.", no_args_is_help=True)
app.add_typer(platform_app, name="platform")
app.add_typer(tenant_app, name="tenant")
app.add_typer(projections_app, name="projections")
app.add_typer(audit_app, name="audit")
app.add_typer(records_app, name="records")
app.add_typer(graphql_app, name="graphql")
app.add_typer(disposal_app, name="disposal")
app.add_typer(storage_app, name="storage")
app.add_typer(reports_app, name="reports")  # issue 20: issue, list, reproduce
add_citus_commands(tenant_app)  # tenant placement, tenant move
register_bundle_commands(tenant_app)  # tenant export, import, restore, bundle-key
console = Console()  # results
err = Console(stderr=True)  # progress, refusals


def _services() -> Services:
    from yorisoi.infra.wiring.bootstrap import Services
    from yorisoi.infra.settings import get_settings

    return Services(get_settings())


def _embedded_setup() -> None:
    """The embedded default provisions itself: platform space and demo data."""
    from yorisoi.infra.wiring.bootstrap import Services, init_platform
    from yorisoi.infra.demo import ensure_platform_issuer, has_demo, load_demo
    from yorisoi.infra.settings import get_settings

    settings = get_settings()
    if settings.backend != "sqlite":
        return
    init_platform(settings)
    services = Services(settings)
    try:
        if not has_demo(services):
            load_demo(services)
            console.print("[green]Demo data loaded[/green] (千代田区, NPO法人 ひだまり).")
        else:
            # A data directory from an earlier version: add the tables since added.
            services.directory.upgrade_spaces()
            ensure_platform_issuer(services)
        # Files stored in clear (the demo's, an earlier version's) are sealed in place.
        from yorisoi.infra.cli.reseal import reseal_all

        reseal_all(services)
    finally:
        services.close()


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8000,
          demo: Annotated[bool, typer.Option(help="Load demo data on first run (SQLite).")] = True,
          workers: Annotated[int, typer.Option(
              min=1, help="Server processes (PostgreSQL: up to the machine's cores).")] = 1) -> None:
    """Run the API (GraphQL at /graphql) and the staff console (/console)."""
    import uvicorn

    from yorisoi.infra.http.app import create_app
    from yorisoi.infra.wiring.bootstrap import Services
    from yorisoi.infra.settings import get_settings

    settings = get_settings()
    address = served_address(host, port)
    if "public_url" not in settings.model_fields_set:
        # Links handed to agencies (referral packets) point at this server, not a default port.
        settings = settings.model_copy(update={"public_url": address})
    # The console's address first, before anything else is printed.
    for line in startup_lines(address, local_address(host, port)):
        console.print(line, soft_wrap=True, highlight=False)
    if demo:
        _embedded_setup()
    services = Services(settings)
    if services.dev_issuer is not None and demo:
        tokens = _write_demo_tokens(services, settings.data_dir / DEMO_TOKENS_FILE)
        for line in token_lines(tokens):
            console.print(line, soft_wrap=True, highlight=False)
    if workers > 1:
        # Each process builds its own services from the environment (infra/http/asgi.py).
        import os

        services.close()
        os.environ.setdefault("YORISOI_PUBLIC_URL", settings.public_url)
        from yorisoi.infra.http.asgi import NoDelayHTTPProtocol
        from yorisoi.infra.reuseport import serve as serve_processes

        # A listening socket per process (SO_REUSEPORT): with uvicorn's one shared socket
        # every keep-alive client landed on the same process and the others idled.
        serve_processes("yorisoi.infra.http.asgi:application", factory=True, workers=workers,
                        host=host, port=port, log_level="info", http=NoDelayHTTPProtocol)
        return
    uvicorn.run(create_app(settings, services), host=host, port=port, log_level="info")


DEMO_TOKENS_FILE = "demo-tokens.txt"


def served_address(host: str, port: int) -> str:
    """The address others reach this server at: the host it listens on (its name when on all)."""
    import socket

    if host in ("0.0.0.0", "::", ""):
        host = socket.getfqdn() or "127.0.0.1"
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    return f"http://{host}:{port}"


def local_address(host: str, port: int) -> str:
    """The address to open on this machine (loopback when listening on every interface)."""
    return served_address("127.0.0.1" if host in ("0.0.0.0", "::", "") else host, port)


def startup_lines(address: str, local: str) -> list[str]:
    """What ``serve`` prints first: the console's address (and GraphiQL's, the REST docs')."""
    lines = [f"コンソール（Console）: [bold]{local}/console[/bold]",
             f"GraphiQL: {local}/graphql    REST API: {local}/docs"]
    if address != local:
        lines.append(f"Other machines: {address}/console")
    return lines


def token_lines(tokens: Path) -> list[str]:
    """Where the demo users' tokens are, instead of printing them."""
    return ["Sign in to the console by choosing a demo user on its sign-in page.",
            f"Development tokens for GraphiQL (8 hours, one per demo user): {tokens}",
            "Another token: yorisoi dev-token SUBJECT --tenant-kind contractor "
            "--tenant-id npo-hidamari --role specialist --site kanda-hiroba"]


def _write_demo_tokens(services: Services, path: Path) -> Path:
    """Each demo user's development token, in a file only this user can read."""
    import os

    from yorisoi.infra.demo import DEMO_USERS, demo_token

    text = "".join(f"# {user.label} ({user.subject})\nAuthorization: Bearer "
                   f"{demo_token(services, user)}\n\n" for user in DEMO_USERS)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(path, 0o600)
    return path


@app.command()
def worker(once: Annotated[bool, typer.Option(help="One pass, then exit.")] = False) -> None:
    """Keep every tenant's read models caught up."""
    from yorisoi.infra.worker import catch_up_all, run_worker

    services = _services()
    try:
        if once:
            console.print(f"applied {catch_up_all(services)} events")
        else:
            from yorisoi.infra.metrics import worker_metrics

            worker_metrics(services)  # its tenants' lags and pools; a port if configured
            run_worker(services)
    finally:
        services.close()


@app.command("dev-token")
def dev_token(subject: str, tenant_kind: str = "contractor", tenant_id: str = "npo-hidamari",
              role: Annotated[Optional[list[str]], typer.Option()] = None,  # noqa: UP007
              site: Annotated[Optional[list[str]], typer.Option()] = None,  # noqa: UP007
              expires_in: int = 3600) -> None:
    """Mint a token from the development issuer (roles from the role catalogue)."""
    from yorisoi.domain.access_grants import ROLES
    from yorisoi.infra.identity import (
        MAX_TOKEN_LIFETIME_SECONDS,
        valid_subject,
        validate_tenant,
    )

    if not valid_subject(subject):
        raise typer.BadParameter("1-255 printable ASCII characters", param_hint="SUBJECT")
    roles = role or ["specialist"]
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise typer.BadParameter(f"unknown role {', '.join(unknown)}; roles are: "
                                 f"{', '.join(ROLES)}", param_hint="--role")
    if expires_in > MAX_TOKEN_LIFETIME_SECONDS:
        raise typer.BadParameter(f"at most {MAX_TOKEN_LIFETIME_SECONDS} seconds (366 days): "
                                 "the API refuses tokens that live longer",
                                 param_hint="--expires-in")
    try:
        validate_tenant(tenant_kind, tenant_id)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--tenant-kind/--tenant-id") from None
    services = _services()
    try:
        if services.dev_issuer is None:
            raise typer.BadParameter(
                "the development issuer is disabled (YORISOI_DEV_ISSUER=false)")
        print(services.dev_issuer.mint(tenant_kind, tenant_id, subject, roles=roles,
                                       sites=site or [], expires_in=expires_in))
    finally:
        services.close()


@app.command()
def demo() -> None:
    """Load the demo data (once)."""
    from yorisoi.infra.demo import has_demo, load_demo

    services = _services()
    try:
        if has_demo(services):
            console.print("demo data already present")
        else:
            load_demo(services)
            console.print("demo data loaded")
    finally:
        services.close()


@platform_app.command("init")
def platform_init() -> None:
    """Create the platform space (schema and tables). Idempotent."""
    from yorisoi.infra.wiring.bootstrap import init_platform
    from yorisoi.infra.settings import get_settings

    init_platform(get_settings())
    console.print("platform space ready")


def _registry(action) -> None:  # noqa: ANN001
    """Run a registry command as the platform operator; refusals exit 2 with the reason."""
    from yorisoi.domain.errors import DomainError
    from yorisoi.infra.wiring.bootstrap import OPERATOR
    from yorisoi.services.context import acting_as

    services = _services()
    try:
        with acting_as(OPERATOR):
            action(services.directory)
    except DomainError as error:
        err.print(f"[red]{error.message}[/red]\n[red]{error.message_ja}[/red]")
        raise typer.Exit(2) from None
    finally:
        services.close()


def _day(text: str | None, option: str) -> date:
    """A day as people type it (2026-04-01, 令和8年4月1日, R8.4.1); default today in Japan."""
    from yorisoi.domain.japanese_dates import parse_typed_date
    from yorisoi.infra.clock import japan_today

    if not text:
        return japan_today()
    day = parse_typed_date(text)
    if day is None:
        err.print(f"[red]{option}: not a date (e.g. 2026-04-01, 令和8年4月1日, R8.4.1)[/red]\n"
                  f"[red]{option}: 日付を読み取れません（例: 2026-04-01、令和8年4月1日、R8.4.1）[/red]")
        raise typer.Exit(2)
    return day


@tenant_app.command("upgrade")
def upgrade(tenant: Annotated[Optional[list[str]], typer.Option(  # noqa: UP007
                help="Municipality code (repeatable); default: every municipality.")] = None,
            force: Annotated[bool, typer.Option(
                help="Upgrade every space again, even those already up to date.")] = False,
            jobs: Annotated[int, typer.Option(
                min=1, max=32, help="Spaces upgraded at once (each takes a connection "
                "as the owner).")] = 1,
            ) -> None:
    """Bring municipalities' spaces up to date (new tables and columns). Resumable.

    Each space done is journalled: run it again after an interruption and it
    goes on with the spaces not yet done.  A space that fails is reported and
    the rest go on; the exit code is then 1 and a re-run retries only those.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from yorisoi.tenants.upgrades import SpaceUpgrades

    services = _services()
    upgrades = SpaceUpgrades(services.directory)
    try:
        codes = tenant or [t.tenant_id for t in services.directory.registry.municipalities()]
        due, current = upgrades.plan(codes, force=force)
        err.print(f"{len(codes)} municipalities: {len(current)} already up to date, "
                  f"{len(due)} to upgrade")
        columns = (TextColumn("upgrading"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TimeRemainingColumn())
        with Progress(*columns, console=err) as progress:
            task = progress.add_task("upgrading", total=len(due))

            def advance(code: str, failure: str | None) -> None:
                if failure is not None:
                    progress.console.print(f"[red]{code}: failed ({failure})[/red]")
                progress.advance(task)

            outcome = upgrades.run(due, advance, jobs=jobs)
    finally:
        upgrades.close()
        services.close()
    if not outcome.failed:
        console.print(f"{len(codes)} municipalities up to date ({len(outcome.upgraded)} "
                      f"upgraded now, {len(current)} already)")
        return
    console.print(f"{len(outcome.upgraded)} upgraded, {len(current)} already up to date, "
                  f"{len(outcome.failed)} failed")
    if outcome.failed:
        err.print("[red]Run `yorisoi tenant upgrade` again to retry the failed ones.[/red]\n"
                  "[red]失敗した自治体は、もう一度実行すると再試行されます。[/red]")
        raise typer.Exit(1)


@tenant_app.command("provision-municipality")
def provision_municipality(code: str, name: str, prefecture: str) -> None:
    """Register a municipality and create its space."""
    _registry(lambda d: d.provision_municipality(code=code, name=name, prefecture=prefecture))
    console.print(f"municipality {code} provisioned")


@tenant_app.command("provision-contractor")
def provision_contractor(contractor_id: str, name: str,
                         corporate_number: Optional[str] = None) -> None:  # noqa: UP007
    """Register a contractor."""
    _registry(lambda d: d.provision_contractor(contractor_id=contractor_id, name=name,
                                               corporate_number=corporate_number))
    console.print(f"contractor {contractor_id} registered")


@tenant_app.command("register-site")
def register_site(municipality_code: str, site_id: str, name: str, site_type: str) -> None:
    """Register a site of a municipality."""
    _registry(lambda d: d.register_site(municipality_code=municipality_code, site_id=site_id,
                                        name=name, site_type=site_type))


@tenant_app.command("sign-contract")
def sign_contract(contract_id: str, municipality_code: str, contractor_id: str,
                  site: Annotated[list[str], typer.Option()], starts_on: str,
                  ends_on: str) -> None:
    """Record a contract between a municipality and a contractor."""
    starts, ends = _day(starts_on or "-", "STARTS_ON"), _day(ends_on or "-", "ENDS_ON")
    _registry(lambda d: d.sign_contract(
        contract_id=contract_id, municipality_code=municipality_code,
        contractor_id=contractor_id, site_ids=site, starts_on=starts, ends_on=ends))


@tenant_app.command("suspend-contract")
def suspend_contract(contract_id: str, reason: str, suspended_on: str | None = None) -> None:
    """Suspend a contract: the contractor's access stops at once (reason: a code)."""
    day = _day(suspended_on, "--suspended-on")
    _registry(lambda d: d.suspend_contract(contract_id=contract_id, suspended_on=day,
                                           reason=reason))
    console.print(f"contract {contract_id} suspended")


@tenant_app.command("resume-contract")
def resume_contract(contract_id: str, resumed_on: str | None = None) -> None:
    """Lift a contract's suspension; access returns at once."""
    day = _day(resumed_on, "--resumed-on")
    _registry(lambda d: d.resume_contract(contract_id=contract_id, resumed_on=day))
    console.print(f"contract {contract_id} resumed")


@tenant_app.command("end-contract")
def end_contract(contract_id: str, reason: str, ended_on: str | None = None) -> None:
    """End a contract early; the contractor's access ends at once."""
    day = _day(ended_on, "--ended-on")
    _registry(lambda d: d.end_contract(contract_id=contract_id, ended_on=day, reason=reason))
    console.print(f"contract {contract_id} ended")


@tenant_app.command("register-issuer")
def register_issuer(issuer: str, tenant_kind: str, tenant_id: str, jwks_uri: str,
                    audience: str = "yorisoi") -> None:
    """Register a tenant's OIDC issuer (its JWKS URL and audience)."""
    from yorisoi.infra.identity import IssuerRegistration

    registration = IssuerRegistration(issuer=issuer, audience=audience,
                                      tenant_kind=tenant_kind,  # type: ignore[arg-type]
                                      tenant_id=tenant_id, jwks_uri=jwks_uri)
    _registry(lambda d: d.register_identity_provider(registration))


@projections_app.command("status")
def projections_status(as_json: bool = False) -> None:
    """Position, head and lag of every tenant's case view."""
    services = _services()
    rows = []
    try:
        for tenant in services.directory.registry.municipalities():
            with services.runtimes.lease(tenant.tenant_id) as runtime:
                statuses = [projector.status() for projector in runtime.projectors]
            rows += [{"tenant": tenant.tenant_id, "view": status.name,
                      "position": status.position, "head": status.head, "lag": status.lag}
                     for status in statuses]
    finally:
        services.close()
    if as_json:
        print(json.dumps(rows))
        return
    from rich.table import Table

    table = Table("tenant", "view", "position", "head", "lag")
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    console.print(table)


@projections_app.command("rebuild")
def projections_rebuild(tenant: Annotated[Optional[list[str]], typer.Option()] = None) -> None:  # noqa: UP007
    """Empty and replay the case view of the given (or every) municipality."""
    services = _services()
    try:
        codes = tenant or [t.tenant_id for t in services.directory.registry.municipalities()]
        from rich.progress import Progress

        with Progress(console=err) as progress:
            task = progress.add_task("rebuilding", total=len(codes))
            for code in codes:
                with services.runtimes.lease(code) as runtime:
                    applied = max(p.rebuild() for p in runtime.projectors)
                console.print(f"{code}: {applied} events")
                progress.advance(task)
    finally:
        services.close()


def main() -> None:
    app()
