"""Settings, chosen by environment variables (prefix ``YORISOI_``).

The embedded default needs no variables at all: SQLite files, a local object
store and the development identity issuer under ``./var``.  Production sets
``YORISOI_BACKEND=postgres``, ``YORISOI_STORAGE=s3`` and the key provider.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything the process needs to know about where it runs."""

    model_config = SettingsConfigDict(env_prefix="YORISOI_", extra="ignore")

    # Where state lives in the embedded default (SQLite files, object store, keys).
    data_dir: Path = Path("var")
    environment: Literal["development", "production", "test"] = "development"

    # Event store and read models.
    backend: Literal["sqlite", "postgres"] = "sqlite"
    pg_host: str = "127.0.0.1"
    pg_port: int = 5432
    pg_dbname: str = "yorisoi"
    pg_user: str = "yorisoi_app"
    pg_password: SecretStr = SecretStr("")
    # Owner role used only by provisioning (DDL); the app role owns nothing.
    pg_admin_user: str = "yorisoi_owner"
    pg_admin_password: SecretStr = SecretStr("")
    # Citus (docs/citus.md): each municipality's schema distributed, ``platform`` kept on
    # the coordinator.  auto: on when the database has the citus extension.
    pg_citus: Literal["auto", "on", "off"] = "auto"
    # Outages answer fast (infra/outages.py): a borrower waits this long for a busy
    # pool (but a quarter of a second once the database is found down), a connection
    # attempt this long; while the database is down one request per probe interval
    # tries it and the others get 503 with Retry-After at once.
    pg_pool_timeout_seconds: float = Field(default=5.0, gt=0)
    pg_connect_timeout_seconds: int = Field(default=2, ge=1)
    # Each pooled connection is checked before it is lent (none dead after a restart).
    pg_check_connections: bool = True
    outage_probe_seconds: float = Field(default=1.0, gt=0)
    outage_retry_after_seconds: int = Field(default=2, ge=1)
    # /readyz answers from the last background probe, made this often.
    readiness_probe_seconds: float = Field(default=1.0, gt=0)
    # The worker's longest wait between attempts while the database is down.
    worker_backoff_cap_seconds: float = Field(default=30.0, gt=0)

    # Per-tenant application cache: cost follows active tenants, not all tenants.
    max_active_tenants: int = Field(default=64, ge=1)
    tenant_idle_seconds: float = Field(default=120.0, gt=0)
    tenant_pool_size: int = Field(default=0, ge=0)
    tenant_pool_max_overflow: int = Field(default=2, ge=1)
    # Aggregates without personal fields kept per active tenant for commands (0: none);
    # every read is validated where the events are written (docs/architecture.md).
    command_cache_size: int = Field(default=2000, ge=0)

    # Object storage.
    storage: Literal["local", "s3"] = "local"
    s3_endpoint_url: str | None = None
    s3_bucket: str = "yorisoi-objects"
    # The audit checkpoints' Object Lock bucket; empty: "<s3_bucket>-audit".
    s3_audit_bucket: str = ""
    s3_region: str = "ap-northeast-1"

    # Tenant key-encryption keys: a local key file per tenant, or AWS KMS.
    key_provider: Literal["local", "kms"] = "local"
    kms_endpoint_url: str | None = None
    kms_key_alias_prefix: str = "alias/yorisoi-tenant-"

    # The built-in development OIDC issuer (never enabled in production).
    dev_issuer: bool = True
    # The address links handed outside point at (referral packets for agencies).
    # Unset, ``yorisoi serve`` uses the address it was started on (--host, --port);
    # set it behind a proxy or a DNS name (https://yorisoi.example.lg.jp).
    public_url: str = "http://127.0.0.1:8000"
    # The console's client secrets at IdPs that take it as a confidential client: a JSON
    # file of issuer → secret (readable by the service only).  Unset: public client (PKCE).
    oidc_client_secrets_file: Path | None = None

    # Request limits.
    max_text_length: int = Field(default=4000, ge=1)
    graphql_max_depth: int = Field(default=10, ge=1)
    # Request bodies beyond these answer 413 before anything parses them: JSON and
    # forms, and multipart uploads (an attachment may be 10 MiB, plus its envelope).
    max_request_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_upload_body_bytes: int = Field(default=11 * 1024 * 1024, ge=1024)
    # Arrays and objects nested deeper than this in a JSON body answer 400.
    max_json_depth: int = Field(default=64, ge=2)

    # GraphQL hardening (docs/architecture.md, "GraphQL hardening").
    # allow_list: only the operations of the committed manifest run (by hash,
    # documentId or the identical document); off: any document, and hashes of
    # the manifest still resolve.
    graphql_persisted_queries: Literal["off", "allow_list"] = "off"
    # None: the manifest committed with the code (graphql/persisted_queries.json).
    graphql_persisted_queries_path: Path | None = None

    # Token buckets per principal and per tenant (all its principals together),
    # in this process: N workers admit up to N times these rates.  Anonymous
    # requests (public queries, bad tokens) share a bucket per client address
    # at the principal rate.  None: on, except in environment=test (suites that
    # send thousands of requests as one user stay deterministic).
    rate_limits: bool | None = None
    rate_limit_principal_per_second: float = Field(default=10.0, gt=0)
    rate_limit_principal_burst: int = Field(default=100, ge=1)
    rate_limit_tenant_per_second: float = Field(default=100.0, gt=0)
    rate_limit_tenant_burst: int = Field(default=1000, ge=1)
    # Where the buckets live: "database" (the platform space: PostgreSQL, or the
    # platform's SQLite file every process of an embedded deployment opens), so N
    # processes enforce one limit; "memory": this process only (N processes, N times).
    rate_limit_store: Literal["database", "memory"] = "database"

    # When an identity provider cannot be reached as its key set falls due (every 5 min),
    # the set fetched last keeps verifying the keys it holds for this many seconds more
    # (0: refuse at once, every request a 503 until the IdP answers).
    jwks_stale_if_error_seconds: float = Field(default=3600.0, ge=0)

    # Metrics (infra/metrics.py, docs/metrics.md): GET /metrics in Prometheus's text
    # format when on (optionally behind a bearer token), and OTLP export to a
    # collector when an endpoint is named (http://collector:4318/v1/metrics).
    metrics_endpoint: bool = False
    metrics_token: SecretStr = SecretStr("")
    metrics_otlp_endpoint: str = ""
    metrics_otlp_interval_seconds: float = Field(default=60.0, gt=0)
    # The worker has no HTTP server: a port of its own for Prometheus (0: none).
    metrics_worker_port: int = Field(default=0, ge=0, le=65535)
    metrics_worker_host: str = "127.0.0.1"

    @field_validator("public_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def rate_limits_enabled(self) -> bool:
        return self.environment != "test" if self.rate_limits is None else self.rate_limits

    @property
    def sqlite_dir(self) -> Path:
        return self.data_dir / "sqlite"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def objects_dir(self) -> Path:
        return self.data_dir / "objects"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once from the environment."""
    return Settings()
