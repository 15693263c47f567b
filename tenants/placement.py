"""Where each municipality lives in a Citus cluster, and moving one to another node while it works.

A municipality's space is one distributed schema (``tenants/citus.py``): all its
tables share one node.  ``placements`` lists every municipality with its node and
size; ``plan_move`` checks a move before anything happens (logical WAL on the
nodes involved, the target registered, active and holding shards, the tenant not
already there); ``move`` runs ``citus_schema_move`` — logical replication: the
tenant keeps reading and writing, and its writes wait only for the final switch-over
— reporting progress from ``get_rebalance_progress()``; ``verify_move`` checks what
the move must not change.

Events are counted up to the last notification id seen before the move: writes that
continue during the move add to the log but cannot change that prefix, so "counts
equal" holds on a working tenant.  Every statement runs as the owner role (the
schema's owner is who may move it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from yorisoi.domain.errors import DomainError
from yorisoi.infra.settings import Settings
from yorisoi.tenants.citus import citus_active, is_distributed
from yorisoi.tenants.spaces import municipality_space

EVENTS_TABLE = "casework_events"
COORDINATOR = "coordinator"


class MoveRefusedError(DomainError):
    code = "move_refused"
    message = "The municipality cannot be moved."
    message_ja = "この市区町村は移動できません。"


class NotCitusError(MoveRefusedError):
    code = "not_citus"
    message = "This database does not run Citus: every municipality lives on this one server."
    message_ja = "このデータベースは Citus ではありません。すべての市区町村がこのサーバーにあります。"


class WalLevelError(MoveRefusedError):
    code = "wal_level_not_logical"
    message = "A move needs wal_level = logical on the coordinator and on both nodes involved."
    message_ja = "移動にはコーディネーターと移動元・移動先ノードで wal_level = logical が必要です。"


class UnknownNodeError(MoveRefusedError):
    code = "node_unknown"
    message = "No such node in the cluster (give it as host:port, as `tenant placement` lists)."
    message_ja = "そのノードはクラスターにありません（tenant placement の表示どおり host:port で指定してください）。"


class NodeInactiveError(MoveRefusedError):
    code = "node_inactive"
    message = "The target node is not an active primary that holds shards."
    message_ja = "移動先ノードが、シャードを置ける稼働中のプライマリーではありません。"


class AlreadyThereError(MoveRefusedError):
    code = "already_on_node"
    message = "The municipality already lives on that node."
    message_ja = "この市区町村はすでにそのノードにあります。"


class NotDistributedError(MoveRefusedError):
    code = "schema_not_distributed"
    message = ("The municipality's space is not distributed yet: run `yorisoi tenant upgrade` "
               "on the Citus deployment first.")
    message_ja = ("この市区町村のスペースはまだ分散されていません。先に yorisoi tenant upgrade を"
                  "実行してください。")


class LeftoversError(DomainError):
    code = "move_leftovers"
    message = ("A previous move left this municipality's old copy on the target node and it "
               "is still in use; try again in a few minutes.")
    message_ja = ("以前の移動で移動先ノードに残った旧データがまだ使用中です。"
                  "数分後にもう一度実行してください。")


class MoveVerificationError(DomainError):
    code = "move_verification_failed"
    message = "After the move, the municipality's events or placement are not as before."
    message_ja = "移動後の市区町村のイベント件数または配置が移動前と一致しません。"


@dataclass(frozen=True)
class Node:
    node_id: int
    host: str
    port: int
    role: str  # "coordinator" or "worker"
    active: bool
    holds_shards: bool

    @property
    def name(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Placement:
    municipality_code: str
    space: str
    node: str  # host:port, or "coordinator" for a space that is not distributed
    distributed: bool
    size_bytes: int
    last_event: int  # the log's last notification id


@dataclass(frozen=True)
class MovePlan:
    municipality_code: str
    space: str
    source: Node
    target: Node
    size_bytes: int
    events_before: int  # events with notification id ≤ last_event_before
    last_event_before: int


@dataclass(frozen=True)
class MoveResult:
    plan: MovePlan
    seconds: float
    events_after: int  # events with notification id ≤ plan.last_event_before, after
    events_total: int  # the whole log after the move (writes continued meanwhile)
    node_after: str


def owner_connection(settings: Settings) -> psycopg.Connection:
    return psycopg.connect(host=settings.pg_host, port=settings.pg_port,
                           dbname=settings.pg_dbname, user=settings.pg_admin_user,
                           password=settings.pg_admin_password.get_secret_value(),
                           autocommit=True, row_factory=dict_row)


def nodes(conn: Any) -> list[Node]:
    rows = conn.execute(
        "SELECT nodeid, nodename, nodeport, groupid, isactive, shouldhaveshards"
        " FROM pg_dist_node WHERE noderole = 'primary' ORDER BY groupid").fetchall()
    return [Node(node_id=r["nodeid"], host=r["nodename"], port=r["nodeport"],
                 role=COORDINATOR if r["groupid"] == 0 else "worker", active=r["isactive"],
                 holds_shards=r["shouldhaveshards"]) for r in rows]


def find_node(conn: Any, name: str) -> Node:
    """A node by ``host:port`` (or by host alone when only one node has it)."""
    host, _, port = name.strip().rpartition(":") if ":" in name else (name.strip(), "", "")
    candidates = [n for n in nodes(conn) if n.host == host
                  and (not port or (port.isdigit() and n.port == int(port)))]
    if len(candidates) != 1:
        raise UnknownNodeError()
    return candidates[0]


def _space_node(conn: Any, space: str) -> tuple[str, int] | None:
    row = conn.execute(
        "SELECT DISTINCT sh.nodename, sh.nodeport FROM citus_shards sh"
        " JOIN pg_dist_schema ds ON ds.colocationid = sh.colocation_id"
        " WHERE ds.schemaid = to_regnamespace(%s)", (space,)).fetchall()
    if len(row) != 1:  # none (no tables yet) or, mid-move, never more than one placement
        return None
    return row[0]["nodename"], row[0]["nodeport"]


def _sizes(conn: Any, citus: bool) -> dict[str, tuple[str, int]]:
    """space → (node, bytes) of every municipality's space."""
    found: dict[str, tuple[str, int]] = {}
    if citus:
        for r in conn.execute(
                "SELECT ds.schemaid::regnamespace::text AS space, sh.nodename, sh.nodeport,"
                " sum(sh.shard_size)::int8 AS size FROM pg_dist_schema ds"
                " JOIN citus_shards sh ON sh.colocation_id = ds.colocationid"
                " GROUP BY 1, 2, 3").fetchall():
            found[r["space"]] = (f"{r['nodename']}:{r['nodeport']}", int(r["size"]))
    for r in conn.execute(
            "SELECT n.nspname AS space, coalesce(sum(pg_total_relation_size(c.oid)), 0)::int8"
            " AS size FROM pg_namespace n LEFT JOIN pg_class c ON c.relnamespace = n.oid"
            " AND c.relkind = 'r' WHERE n.nspname LIKE 't\\_%' GROUP BY 1").fetchall():
        found.setdefault(r["space"], (COORDINATOR, int(r["size"])))
    return found


def _last_event(conn: Any, space: str) -> int:
    row = conn.execute(sql.SQL("SELECT coalesce(max(notification_id), 0) AS n FROM {}.{}").format(
        sql.Identifier(space), sql.Identifier(EVENTS_TABLE))).fetchone()
    return int(row["n"])


# Spaces whose last event one statement reads (a UNION ALL of index-only max() reads;
# on Citus each arm is a router query to the space's node, run by one statement).
_LAST_EVENTS_PER_STATEMENT = 200


def _last_events(conn: Any, spaces: list[str]) -> dict[str, int]:
    """space → its log's last notification id, for many spaces in few round trips (a
    listing of 2,000 municipalities made 2,000 statements, each one a trip to a worker)."""
    found: dict[str, int] = {}
    for start in range(0, len(spaces), _LAST_EVENTS_PER_STATEMENT):
        chunk = spaces[start:start + _LAST_EVENTS_PER_STATEMENT]
        query = sql.SQL(" UNION ALL ").join(
            sql.SQL("SELECT {} AS space, (SELECT coalesce(max(notification_id), 0)"
                    " FROM {}.{}) AS n").format(sql.Literal(space), sql.Identifier(space),
                                              sql.Identifier(EVENTS_TABLE))
            for space in chunk)
        for row in conn.execute(query).fetchall():
            found[row["space"]] = int(row["n"])
    return found


def _count_upto(conn: Any, space: str, last: int) -> int:
    row = conn.execute(sql.SQL("SELECT count(*) AS n FROM {}.{} WHERE notification_id <= %s")
                       .format(sql.Identifier(space), sql.Identifier(EVENTS_TABLE)),
                       (last,)).fetchone()
    return int(row["n"])


def placements(settings: Settings, codes: list[str]) -> list[Placement]:
    """Where each of ``codes`` (registered municipalities) lives, with its size."""
    with owner_connection(settings) as conn:
        citus = citus_active(settings, conn)
        sizes = _sizes(conn, citus)
        distributed = {r["space"] for r in conn.execute(
            "SELECT schemaid::regnamespace::text AS space FROM pg_dist_schema").fetchall()} \
            if citus else set()
        # Registered municipalities whose space exists (not a half-done provisioning).
        present = [(code, municipality_space(code)) for code in codes
                   if municipality_space(code) in sizes]
        last_events = _last_events(conn, [space for _, space in present])
        found = []
        for code, space in present:
            node, size = sizes[space]
            found.append(Placement(municipality_code=code, space=space, node=node,
                                   distributed=space in distributed, size_bytes=size,
                                   last_event=last_events[space]))
    return found


def _wal_levels(conn: Any, targets: list[Node]) -> dict[str, str]:
    levels = {COORDINATOR: conn.execute("SHOW wal_level").fetchone()["wal_level"]}
    for r in conn.execute("SELECT nodename, nodeport, success, result"
                          " FROM run_command_on_workers('SHOW wal_level')").fetchall():
        levels[f"{r['nodename']}:{r['nodeport']}"] = r["result"] if r["success"] else "unknown"
    return {name: level for name, level in levels.items()
            if name == COORDINATOR or name in {n.name for n in targets}}


def plan_move(settings: Settings, code: str, target_name: str) -> MovePlan:
    """Every pre-check of a move; refused with a typed error, nothing changed."""
    space = municipality_space(code)
    with owner_connection(settings) as conn:
        if not citus_active(settings, conn):
            raise NotCitusError()
        if not is_distributed(conn, space):
            raise NotDistributedError()
        target = find_node(conn, target_name)
        if not (target.active and target.holds_shards):
            raise NodeInactiveError()
        where = _space_node(conn, space)
        if where is None:
            raise NotDistributedError()
        source = next(n for n in nodes(conn) if (n.host, n.port) == where)
        if source.node_id == target.node_id:
            raise AlreadyThereError()
        if any(level != "logical" for level in _wal_levels(conn, [source, target]).values()):
            raise WalLevelError()
        last = _last_event(conn, space)
        size = _sizes(conn, True).get(space, ("", 0))[1]
        return MovePlan(municipality_code=code, space=space, source=source, target=target,
                        size_bytes=size, events_before=_count_upto(conn, space, last),
                        last_event_before=last)


def _watch(settings: Settings, done: threading.Event,
           progress: Callable[[int, int], None], every: float) -> None:
    """Report (copied bytes, total bytes) of the running move until ``done``."""
    try:
        with owner_connection(settings) as conn:
            while not done.wait(every):
                row = conn.execute(
                    "SELECT coalesce(sum(source_shard_size), 0)::int8 AS total,"
                    " coalesce(sum(target_shard_size), 0)::int8 AS copied"
                    " FROM get_rebalance_progress()").fetchone()
                if row["total"]:
                    progress(min(int(row["copied"]), int(row["total"])), int(row["total"]))
    except psycopg.Error:  # progress is a courtesy: the move itself reports its outcome
        return


def move(settings: Settings, plan: MovePlan,
         progress: Callable[[int, int], None] | None = None, every: float = 0.5) -> MoveResult:
    """Move the municipality's schema to ``plan.target`` (logical replication), then verify."""
    done = threading.Event()
    watcher = None
    if progress is not None:
        watcher = threading.Thread(target=_watch, args=(settings, done, progress, every),
                                   daemon=True, name="move-progress")
        watcher.start()
    started = time.monotonic()
    try:
        _move_schema(settings, plan)
    finally:
        done.set()
        if watcher is not None:
            watcher.join(timeout=10)
    seconds = time.monotonic() - started
    return verify_move(settings, plan, seconds)


# A move back to a node the tenant left moments ago finds its old copy there, dropped by
# Citus only once nothing uses it (deferred cleanup): clean up, wait, and try again.
LEFTOVER_RETRIES = 12
LEFTOVER_WAIT_SECONDS = 5.0


def _move_schema(settings: Settings, plan: MovePlan) -> None:
    for attempt in range(LEFTOVER_RETRIES + 1):
        with owner_connection(settings) as conn:
            conn.execute("CALL citus_cleanup_orphaned_resources()")
            try:
                conn.execute("SELECT citus_schema_move(%s::regnamespace, %s, %s, 'auto')",
                             (plan.space, plan.target.host, plan.target.port))
                return
            except psycopg.errors.InternalError_ as error:
                if "leftover from the previous move" not in str(error):
                    raise
        if attempt < LEFTOVER_RETRIES:
            time.sleep(LEFTOVER_WAIT_SECONDS)
    raise LeftoversError()


def verify_move(settings: Settings, plan: MovePlan, seconds: float = 0.0) -> MoveResult:
    """The tenant is on the target, and every event from before the move is still there."""
    with owner_connection(settings) as conn:
        where = _space_node(conn, plan.space)
        after = _count_upto(conn, plan.space, plan.last_event_before)
        total = int(conn.execute(sql.SQL("SELECT count(*) AS n FROM {}.{}").format(
            sql.Identifier(plan.space), sql.Identifier(EVENTS_TABLE))).fetchone()["n"])
    node_after = f"{where[0]}:{where[1]}" if where else "?"
    result = MoveResult(plan=plan, seconds=seconds, events_after=after, events_total=total,
                        node_after=node_after)
    if after != plan.events_before or node_after != plan.target.name:
        raise MoveVerificationError()
    return result
