#!/bin/sh
# Runs once, when the PostgreSQL container initialises an empty data directory.
# Two roles, as docs/operations.md ("Database roles") describes:
#   yorisoi_owner  owns the schemas and runs every DDL (yorisoi platform init, tenant
#                  upgrade, provisioning) — its password goes to the migrate job only;
#   yorisoi_app    serves requests: owns nothing, no BYPASSRLS, reads and writes what
#                  provisioning grants it.
set -eu
owner_password="$(cat "$OWNER_ROLE_PASSWORD_FILE")"
app_password="$(cat "$APP_ROLE_PASSWORD_FILE")"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v owner_password="$owner_password" -v app_password="$app_password" <<'SQL'
CREATE ROLE yorisoi_owner LOGIN PASSWORD :'owner_password'
  NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
CREATE ROLE yorisoi_app LOGIN PASSWORD :'app_password'
  NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
-- The owner creates one schema per municipality (and "platform"); as the test
-- clusters do (tests/conftest.py), the database is the owner's and only the two
-- roles may connect.
ALTER DATABASE yorisoi OWNER TO yorisoi_owner;
REVOKE CONNECT, TEMPORARY ON DATABASE yorisoi FROM PUBLIC;
GRANT CONNECT ON DATABASE yorisoi TO yorisoi_app;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
