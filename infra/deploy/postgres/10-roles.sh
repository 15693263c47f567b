#!/bin/sh
# Runs once, when the PostgreSQL container initialises an empty data directory (and may
# be run again by hand: it creates only what is missing).  Two roles, as
# docs/operations.md ("Secrets and key custody") describes:
#   yorisoi_owner  owns the database and the schemas and runs every DDL (yorisoi platform
#                  init, tenant upgrade, provisioning) — its password goes to the migrate
#                  job only;
#   yorisoi_app    serves requests: owns nothing, no BYPASSRLS, reads and writes what
#                  provisioning grants it.
# tests/deploy/test_postgres_roles.py runs this file against a real PostgreSQL 15 and
# provisions a municipality with the roles it made.
set -eu
owner_password="$(cat "$OWNER_ROLE_PASSWORD_FILE")"
app_password="$(cat "$APP_ROLE_PASSWORD_FILE")"
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v owner_password="$owner_password" -v app_password="$app_password" \
  -v dbname="$POSTGRES_DB" <<'SQL'
SELECT format('CREATE ROLE yorisoi_owner LOGIN PASSWORD %L NOSUPERUSER NOCREATEDB'
              ' NOCREATEROLE NOREPLICATION NOBYPASSRLS', :'owner_password')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'yorisoi_owner') \gexec
SELECT format('CREATE ROLE yorisoi_app LOGIN PASSWORD %L NOSUPERUSER NOCREATEDB'
              ' NOCREATEROLE NOREPLICATION NOBYPASSRLS', :'app_password')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'yorisoi_app') \gexec
-- The owner creates one schema per municipality (and "platform"); as the test clusters
-- do (tests/conftest.py), the database is the owner's and only the two roles connect.
ALTER DATABASE :"dbname" OWNER TO yorisoi_owner;
REVOKE CONNECT, TEMPORARY ON DATABASE :"dbname" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"dbname" TO yorisoi_app;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
