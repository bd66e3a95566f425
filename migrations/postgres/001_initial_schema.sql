-- Raceway schema for PostgreSQL 13+ (also Supabase behind a transaction
-- pooler). Same tables and semantics as migrations/sqlite/001_initial_schema.sql
-- (ARCHITECTURE §5, §7); the derived-row rules are in
-- libs/storage/common/derive.h.
--
-- Conventions:
-- * Event, trace and parent ids are uuid (16 bytes; uuid ordering is
--   byte order, which equals the canonical text order of the other backends).
-- * Times are bigint nanoseconds since the Unix epoch; durations bigint ns.
-- * Text keys use COLLATE "C": ORDER BY is bytewise, as on every backend,
--   whatever the database's default collation.
-- * No foreign keys: a child may be stored before its parent (order-free
--   ingest). Every derived table is keyed by trace_id first (or has a
--   trace_id index) so retention deletes a trace through indexes.
-- * schema_migrations is created by the migration runner.
-- * Retention deletes whole traces in short batched transactions driven by
--   trace_summaries_by_last (see libs/storage/postgres/postgres_storage.h for
--   why the events table is not time-partitioned).

-- One row per event. payload is the serialized raceway.v1.Event
-- (deterministic protobuf encoding), the source of truth for reads. The
-- *_json columns hold the proto3 JSON mapping (proto field names) of the
-- kind message, the metadata, the causality vector and the client lock set
-- (NULL when the list is empty), for people and tools using SQL.
CREATE TABLE events (
  id             uuid    NOT NULL PRIMARY KEY,
  trace_id       uuid    NOT NULL,
  parent_id      uuid,
  timestamp_ns   bigint  NOT NULL,
  thread_id      text    COLLATE "C" NOT NULL,
  service_name   text    COLLATE "C" NOT NULL,
  kind           text    COLLATE "C" NOT NULL,
  duration_ns    bigint,
  kind_json      jsonb   NOT NULL,
  metadata_json  jsonb   NOT NULL,
  causality_json jsonb,
  lock_set_json  jsonb,
  payload        bytea   NOT NULL
);
-- A trace's events in (timestamp, id) order; also retention by trace.
CREATE INDEX events_by_trace ON events (trace_id, timestamp_ns, id);

-- One "parent" edge per event with a parent_id (parent stored or not).
CREATE TABLE causal_edges (
  trace_id      uuid NOT NULL,
  to_event_id   uuid NOT NULL,
  from_event_id uuid NOT NULL,
  edge_type     text COLLATE "C" NOT NULL DEFAULT 'parent',
  PRIMARY KEY (trace_id, to_event_id)
);

-- Events without a parent_id.
CREATE TABLE trace_roots (
  trace_id      uuid NOT NULL,
  root_event_id uuid NOT NULL,
  PRIMARY KEY (trace_id, root_event_id)
);

-- Children stored before their parent: the parent edge's service call is
-- counted (and the row deleted) when the parent arrives.
CREATE TABLE waiting_children (
  parent_id    uuid NOT NULL,
  child_id     uuid NOT NULL,
  trace_id     uuid NOT NULL,
  service_name text COLLATE "C" NOT NULL,
  PRIMARY KEY (parent_id, child_id)
);
CREATE INDEX waiting_children_by_trace ON waiting_children (trace_id);

-- The variable-access index (global races, global audit trails).
CREATE TABLE cross_trace_index (
  variable            text   COLLATE "C" NOT NULL,
  timestamp_ns        bigint NOT NULL,
  event_id            uuid   NOT NULL,
  trace_id            uuid   NOT NULL,
  thread_id           text   COLLATE "C" NOT NULL,
  service_name        text   COLLATE "C" NOT NULL,
  access_type         text   COLLATE "C" NOT NULL,
  location            text   COLLATE "C" NOT NULL,
  lock_set_json       jsonb,
  distributed_span_id text   COLLATE "C" NOT NULL,
  upstream_span_id    text   COLLATE "C" NOT NULL,
  PRIMARY KEY (variable, timestamp_ns, event_id)
);
CREATE INDEX cross_trace_index_by_trace ON cross_trace_index (trace_id);

CREATE TABLE trace_summaries (
  trace_id    uuid   NOT NULL PRIMARY KEY,
  event_count bigint NOT NULL,
  first_ns    bigint NOT NULL,
  last_ns     bigint NOT NULL
);
-- Newest first (ListTraces, scanned backwards) and retention.
CREATE INDEX trace_summaries_by_last ON trace_summaries (last_ns, trace_id);

CREATE TABLE trace_services (
  trace_id        uuid   NOT NULL,
  service_name    text   COLLATE "C" NOT NULL,
  event_count     bigint NOT NULL,
  first_ns        bigint NOT NULL,
  last_ns         bigint NOT NULL,
  duration_count  bigint NOT NULL,
  duration_sum_ns double precision NOT NULL,
  PRIMARY KEY (trace_id, service_name)
);
-- ListTraces' service filter.
CREATE INDEX trace_services_by_service ON trace_services (service_name, trace_id);

CREATE TABLE trace_kinds (
  trace_id        uuid   NOT NULL,
  kind            text   COLLATE "C" NOT NULL,
  duration_count  bigint NOT NULL,
  duration_sum_ns double precision NOT NULL,
  PRIMARY KEY (trace_id, kind)
);

CREATE TABLE trace_variables (
  trace_id     uuid   NOT NULL,
  variable     text   COLLATE "C" NOT NULL,
  service_name text   COLLATE "C" NOT NULL,
  access_count bigint NOT NULL,
  PRIMARY KEY (trace_id, variable, service_name)
);

CREATE TABLE spans (
  trace_id     uuid   NOT NULL,
  span_id      text   COLLATE "C" NOT NULL,
  service_name text   COLLATE "C" NOT NULL,
  event_count  bigint NOT NULL,
  first_ns     bigint NOT NULL,
  last_ns      bigint NOT NULL,
  PRIMARY KEY (trace_id, span_id, service_name)
);

CREATE TABLE span_edges (
  trace_id      uuid     NOT NULL,
  from_span_id  text     COLLATE "C" NOT NULL,
  to_span_id    text     COLLATE "C" NOT NULL,
  link_type     text     COLLATE "C" NOT NULL,
  link_priority smallint NOT NULL,
  PRIMARY KEY (trace_id, from_span_id, to_span_id)
);

CREATE TABLE service_calls (
  trace_id     uuid   NOT NULL,
  from_service text   COLLATE "C" NOT NULL,
  to_service   text   COLLATE "C" NOT NULL,
  call_count   bigint NOT NULL,
  PRIMARY KEY (trace_id, from_service, to_service)
);

-- Welford baselines per operation key, merged with the parallel formula in
-- the upsert. Kept by retention.
CREATE TABLE baseline_metrics (
  operation  text             COLLATE "C" NOT NULL PRIMARY KEY,
  count      bigint           NOT NULL,
  mean       double precision NOT NULL,
  m2         double precision NOT NULL,
  min_ns     double precision NOT NULL,
  max_ns     double precision NOT NULL,
  updated_at timestamptz      NOT NULL DEFAULT now()
);
