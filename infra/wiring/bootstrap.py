"""One place that wires real adapters from settings (the composition root)."""

from __future__ import annotations

from yorisoi.infra.dev_issuer import DevIssuer
from yorisoi.infra.identity import TokenVerifier
from yorisoi.infra.keys import build_key_provider
from yorisoi.infra.outages import configure as configure_outages
from yorisoi.infra.settings import Settings
from yorisoi.infra.signing import PlatformSigner
from yorisoi.infra.storage import ObjectStore, build_object_store
from yorisoi.services.context import ActingContext
from yorisoi.tenants.directory import TenantDirectory
from yorisoi.tenants.provisioning import Provisioner
from yorisoi.tenants.runtime import TenantRuntimes

# The development issuer's identifiers are not URLs anyone resolves: its keys
# are registered inline, so tokens keep verifying whatever port serve uses.
DEV_ISSUER_BASE = "https://dev-issuer.yorisoi.invalid"

OPERATOR = ActingContext(user_id="cli", role="platform_operator",
                         organisation_kind="platform", organisation_id="platform")


class Services:
    """Everything a request, command or worker needs, built once per process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        configure_outages(settings)  # before any pool is made: their timeouts
        self.key_provider = build_key_provider(settings)
        self.directory = TenantDirectory(settings, self.key_provider)
        self.runtimes = TenantRuntimes(settings, self.key_provider)
        self.verifier = TokenVerifier(
            self.directory.issuer, jwks_stale_if_error=settings.jwks_stale_if_error_seconds)
        self.dev_issuer = (DevIssuer(settings.keys_dir, DEV_ISSUER_BASE)
                           if settings.dev_issuer else None)
        self.objects: ObjectStore = build_object_store(settings)
        # Signs disposal certificates and audit checkpoints (public key published).
        self.signer = PlatformSigner.from_keys_dir(settings.keys_dir)

    def close(self) -> None:
        self.runtimes.close()
        self.directory.close()


def init_platform(settings: Settings) -> None:
    """Create the platform space (DDL, owner role). Idempotent."""
    Provisioner(settings, build_key_provider(settings)).init_platform()
