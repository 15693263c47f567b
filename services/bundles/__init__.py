"""A municipality's bundle: one file that takes it whole to another deployment and back.

``docs/tenant-bundle.md`` describes the format; ``docs/backup-restore.md`` how
bundles, database backups, key store and checkpoint bucket fit together.

- :mod:`.container` — the file: a tar whose last two members are the signed manifest;
- :mod:`.recipient` — household keys re-wrapped for the recipient's X25519 key;
- :mod:`.export` — writing a bundle from a municipality's space (streamed);
- :mod:`.verify` — reading a bundle's ledger back through ``services/audit_verify``;
- :mod:`.load` — importing (and restoring) a bundle, verified before anything is written;
- :mod:`.custody` — the signed custody record (import, restore) chained in the ledger.
"""
