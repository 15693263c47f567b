"""The composition root: real adapters wired to the services from settings, once
per process (used by every entry point: http, console, cli, worker, demo)."""
