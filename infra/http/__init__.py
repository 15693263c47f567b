"""The HTTP entry point: the API app (GraphQL, REST, health), its middleware and
routes, and the vendored static files.  Mounts the staff console (infra/console/)."""
