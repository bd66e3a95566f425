-- Raceway schema for SQLite (ARCHITECTURE §5, §7; tables of the original
-- persistence plan plus what the contract needs).
--
-- Conventions:
-- * UUIDs (event, trace and parent ids) are 16-byte BLOBs: half the size of
--   text in every index. Read them with lower(hex(id)) or the storage API.
--   Byte order equals the canonical text order, so ORDER BY id matches the
--   other backends.
-- * Times are INTEGER nanoseconds since the Unix epoch; durations INTEGER ns.
-- * No foreign keys: a child may be stored before its parent (order-free
--   ingest); every derived row is keyed so retention can delete a trace
--   through its trace_id index.
-- * schema_migrations (version, name, checksum, applied_at) is created by the
--   migration runner before this file runs.

-- One row per event. `payload` is the serialized raceway.v1.Event
-- (deterministic protobuf encoding), the source of truth for reads. The other
-- columns are derived copies for indexes and for people using SQL: the *_json
-- columns hold the proto3 JSON mapping (proto field names) of the kind
-- message, the metadata, the causality vector and the client lock set
-- (NULL when the list is empty).
CREATE TABLE events (
  id             BLOB    NOT NULL,
  trace_id       BLOB    NOT NULL,
  parent_id      BLOB,
  timestamp_ns   INTEGER NOT NULL,
  thread_id      TEXT    NOT NULL,
  service_name   TEXT    NOT NULL,
  kind           TEXT    NOT NULL,   -- "FunctionCall", "StateChange", ...
  duration_ns    INTEGER,            -- model::DurationNs, clamped to int64; NULL = none
  kind_json      TEXT    NOT NULL,
  metadata_json  TEXT    NOT NULL,
  causality_json TEXT,
  lock_set_json  TEXT,
  payload        BLOB    NOT NULL
);
CREATE UNIQUE INDEX events_by_id ON events (id);
-- A trace's events in (timestamp, id) order; also retention by trace.
CREATE INDEX events_by_trace ON events (trace_id, timestamp_ns, id);

-- Explicit causal edges: one "parent" edge per event with a parent_id, stored
-- whether or not the parent has arrived. (Program order, joins and
-- distributed edges are computed by libs/graph from the events.) A rowid
-- table: rows and the trace index are appended in arrival order, instead of
-- random inserts keyed by a random child id (one row per child is
-- guaranteed by the events table's unique id).
CREATE TABLE causal_edges (
  trace_id      BLOB NOT NULL,   -- the child's trace
  to_event_id   BLOB NOT NULL,   -- child
  from_event_id BLOB NOT NULL,   -- parent
  edge_type     TEXT NOT NULL DEFAULT 'parent'
);
CREATE INDEX causal_edges_by_trace ON causal_edges (trace_id);

-- Events without a parent_id.
CREATE TABLE trace_roots (
  trace_id      BLOB NOT NULL,
  root_event_id BLOB NOT NULL,
  PRIMARY KEY (trace_id, root_event_id)
) WITHOUT ROWID;

-- Children stored before their parent: the parent edge's service call is
-- counted (and the row deleted) when the parent arrives.
CREATE TABLE waiting_children (
  parent_id    BLOB NOT NULL,
  child_id     BLOB NOT NULL,
  trace_id     BLOB NOT NULL,   -- the child's trace
  service_name TEXT NOT NULL,   -- the child's service
  PRIMARY KEY (parent_id, child_id)
) WITHOUT ROWID;
CREATE INDEX waiting_children_by_trace ON waiting_children (trace_id);

-- The variable-access index (the plan's cross_trace_index): one row per
-- StateChange, for global races and global audit trails without loading
-- traces.
CREATE TABLE cross_trace_index (
  variable            TEXT    NOT NULL,
  timestamp_ns        INTEGER NOT NULL,
  event_id            BLOB    NOT NULL,
  trace_id            BLOB    NOT NULL,
  thread_id           TEXT    NOT NULL,
  service_name        TEXT    NOT NULL,
  access_type         TEXT    NOT NULL,   -- "READ", "WRITE", "ATOMIC_RMW", ...
  location            TEXT    NOT NULL,
  lock_set_json       TEXT,               -- client lock set, JSON array; NULL = empty
  distributed_span_id TEXT    NOT NULL,
  upstream_span_id    TEXT    NOT NULL,
  PRIMARY KEY (variable, timestamp_ns, event_id)
) WITHOUT ROWID;
CREATE INDEX cross_trace_index_by_trace ON cross_trace_index (trace_id);

-- One row per trace.
CREATE TABLE trace_summaries (
  trace_id    BLOB    NOT NULL PRIMARY KEY,
  event_count INTEGER NOT NULL,
  first_ns    INTEGER NOT NULL,
  last_ns     INTEGER NOT NULL
) WITHOUT ROWID;
-- Newest first (ListTraces) and retention.
CREATE INDEX trace_summaries_by_last ON trace_summaries (last_ns, trace_id);

-- Per (trace, service): the services of a trace, service statistics and
-- durations by service.
CREATE TABLE trace_services (
  trace_id        BLOB    NOT NULL,
  service_name    TEXT    NOT NULL,
  event_count     INTEGER NOT NULL,
  first_ns        INTEGER NOT NULL,
  last_ns         INTEGER NOT NULL,
  duration_count  INTEGER NOT NULL,   -- events with a duration
  duration_sum_ns REAL    NOT NULL,
  PRIMARY KEY (trace_id, service_name)
) WITHOUT ROWID;

-- Durations by event kind, per trace (events with a duration only).
CREATE TABLE trace_kinds (
  trace_id        BLOB    NOT NULL,
  kind            TEXT    NOT NULL,
  duration_count  INTEGER NOT NULL,
  duration_sum_ns REAL    NOT NULL,
  PRIMARY KEY (trace_id, kind)
) WITHOUT ROWID;

-- StateChange access counts per (trace, variable, service): hotspots.
CREATE TABLE trace_variables (
  trace_id     BLOB    NOT NULL,
  variable     TEXT    NOT NULL,
  service_name TEXT    NOT NULL,
  access_count INTEGER NOT NULL,
  PRIMARY KEY (trace_id, variable, service_name)
) WITHOUT ROWID;

-- Distributed spans: events grouped by (trace, distributed_span_id, service).
CREATE TABLE spans (
  trace_id     BLOB    NOT NULL,
  span_id      TEXT    NOT NULL,
  service_name TEXT    NOT NULL,
  event_count  INTEGER NOT NULL,
  first_ns     INTEGER NOT NULL,
  last_ns      INTEGER NOT NULL,
  PRIMARY KEY (trace_id, span_id, service_name)
) WITHOUT ROWID;

-- Span-to-span edges (upstream_span_id -> distributed_span_id). The link
-- type with the smallest (link_priority, link_type) wins (see
-- libs/storage/common/derive.h).
CREATE TABLE span_edges (
  trace_id      BLOB    NOT NULL,
  from_span_id  TEXT    NOT NULL,
  to_span_id    TEXT    NOT NULL,
  link_type     TEXT    NOT NULL,   -- HttpCall, GrpcCall, MessageQueue, DatabaseQuery, Custom
  link_priority INTEGER NOT NULL,
  PRIMARY KEY (trace_id, from_span_id, to_span_id)
) WITHOUT ROWID;

-- Service-to-service calls from parent edges whose endpoints have different
-- services, per trace (the child's). Span-edge calls are computed from spans
-- and span_edges at query time.
CREATE TABLE service_calls (
  trace_id     BLOB    NOT NULL,
  from_service TEXT    NOT NULL,
  to_service   TEXT    NOT NULL,
  call_count   INTEGER NOT NULL,
  PRIMARY KEY (trace_id, from_service, to_service)
) WITHOUT ROWID;

-- Duration baselines per operation key (Welford count/mean/M2 merged with the
-- parallel formula in the upsert). Kept by retention.
CREATE TABLE baseline_metrics (
  operation  TEXT    NOT NULL PRIMARY KEY,
  count      INTEGER NOT NULL,
  mean       REAL    NOT NULL,
  m2         REAL    NOT NULL,
  min_ns     REAL    NOT NULL,
  max_ns     REAL    NOT NULL,
  updated_at TEXT    NOT NULL DEFAULT CURRENT_TIMESTAMP
) WITHOUT ROWID;
