-- Raceway schema for MySQL 8 / MariaDB 10.6+ (InnoDB, utf8mb4). Same tables
-- and semantics as migrations/sqlite/001_initial_schema.sql (ARCHITECTURE
-- §5, §7); the derived-row rules are in libs/storage/common/derive.h.
--
-- Conventions:
-- * Event, trace and parent ids are BINARY(16): byte order equals the
--   canonical text order of the other backends.
-- * Identifiers (services, threads, variables, spans, operations) are
--   VARBINARY: stored byte for byte and compared/ordered bytewise, as on
--   every backend (a _ci collation would merge "A" and "a" and reorder).
--   Free text (locations) is MEDIUMBLOB; JSON columns are JSON (utf8mb4).
-- * Times are BIGINT nanoseconds since the Unix epoch.
-- * No foreign keys (order-free ingest); every derived table leads with
--   trace_id or has a trace_id index for retention.
-- * MySQL DDL is not transactional: every statement is idempotent
--   (IF NOT EXISTS) so a migration interrupted half-way can simply be run
--   again. schema_migrations is created by the migration runner.
-- * max_allowed_packet (server) must exceed the largest event ~3x (payload
--   plus its JSON columns); the default 16 MiB covers events up to ~5 MiB.

CREATE TABLE IF NOT EXISTS events (
  id             BINARY(16)       NOT NULL,
  trace_id       BINARY(16)       NOT NULL,
  parent_id      BINARY(16)       NULL,
  timestamp_ns   BIGINT           NOT NULL,
  thread_id      VARBINARY(1024)  NOT NULL,
  service_name   VARBINARY(1024)  NOT NULL,
  kind           VARBINARY(32)    NOT NULL,
  duration_ns    BIGINT           NULL,
  kind_json      JSON             NOT NULL,
  metadata_json  JSON             NOT NULL,
  causality_json JSON             NULL,
  lock_set_json  JSON             NULL,
  payload        MEDIUMBLOB       NOT NULL,
  PRIMARY KEY (id),
  KEY events_by_trace (trace_id, timestamp_ns, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS causal_edges (
  trace_id      BINARY(16)    NOT NULL,
  to_event_id   BINARY(16)    NOT NULL,
  from_event_id BINARY(16)    NOT NULL,
  edge_type     VARBINARY(16) NOT NULL DEFAULT 'parent',
  PRIMARY KEY (trace_id, to_event_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS trace_roots (
  trace_id      BINARY(16) NOT NULL,
  root_event_id BINARY(16) NOT NULL,
  PRIMARY KEY (trace_id, root_event_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS waiting_children (
  parent_id    BINARY(16)      NOT NULL,
  child_id     BINARY(16)      NOT NULL,
  trace_id     BINARY(16)      NOT NULL,
  service_name VARBINARY(1024) NOT NULL,
  PRIMARY KEY (parent_id, child_id),
  KEY waiting_children_by_trace (trace_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS cross_trace_index (
  variable            VARBINARY(1024) NOT NULL,
  timestamp_ns        BIGINT          NOT NULL,
  event_id            BINARY(16)      NOT NULL,
  trace_id            BINARY(16)      NOT NULL,
  thread_id           VARBINARY(1024) NOT NULL,
  service_name        VARBINARY(1024) NOT NULL,
  access_type         VARBINARY(16)   NOT NULL,
  location            MEDIUMBLOB      NOT NULL,
  lock_set_json       JSON            NULL,
  distributed_span_id VARBINARY(1024) NOT NULL,
  upstream_span_id    VARBINARY(1024) NOT NULL,
  PRIMARY KEY (variable, timestamp_ns, event_id),
  KEY cross_trace_index_by_trace (trace_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS trace_summaries (
  trace_id    BINARY(16) NOT NULL,
  event_count BIGINT     NOT NULL,
  first_ns    BIGINT     NOT NULL,
  last_ns     BIGINT     NOT NULL,
  PRIMARY KEY (trace_id),
  KEY trace_summaries_by_last (last_ns, trace_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS trace_services (
  trace_id        BINARY(16)      NOT NULL,
  service_name    VARBINARY(1024) NOT NULL,
  event_count     BIGINT          NOT NULL,
  first_ns        BIGINT          NOT NULL,
  last_ns         BIGINT          NOT NULL,
  duration_count  BIGINT          NOT NULL,
  duration_sum_ns DOUBLE          NOT NULL,
  PRIMARY KEY (trace_id, service_name),
  KEY trace_services_by_service (service_name, trace_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS trace_kinds (
  trace_id        BINARY(16)    NOT NULL,
  kind            VARBINARY(32) NOT NULL,
  duration_count  BIGINT        NOT NULL,
  duration_sum_ns DOUBLE        NOT NULL,
  PRIMARY KEY (trace_id, kind)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS trace_variables (
  trace_id     BINARY(16)      NOT NULL,
  variable     VARBINARY(1024) NOT NULL,
  service_name VARBINARY(1024) NOT NULL,
  access_count BIGINT          NOT NULL,
  PRIMARY KEY (trace_id, variable, service_name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS spans (
  trace_id     BINARY(16)      NOT NULL,
  span_id      VARBINARY(1024) NOT NULL,
  service_name VARBINARY(1024) NOT NULL,
  event_count  BIGINT          NOT NULL,
  first_ns     BIGINT          NOT NULL,
  last_ns      BIGINT          NOT NULL,
  PRIMARY KEY (trace_id, span_id, service_name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS span_edges (
  trace_id      BINARY(16)      NOT NULL,
  from_span_id  VARBINARY(1024) NOT NULL,
  to_span_id    VARBINARY(1024) NOT NULL,
  link_type     VARBINARY(32)   NOT NULL,
  link_priority SMALLINT        NOT NULL,
  PRIMARY KEY (trace_id, from_span_id, to_span_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS service_calls (
  trace_id     BINARY(16)      NOT NULL,
  from_service VARBINARY(1024) NOT NULL,
  to_service   VARBINARY(1024) NOT NULL,
  call_count   BIGINT          NOT NULL,
  PRIMARY KEY (trace_id, from_service, to_service)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS baseline_metrics (
  operation  VARBINARY(1100) NOT NULL,
  count      BIGINT          NOT NULL,
  mean       DOUBLE          NOT NULL,
  m2         DOUBLE          NOT NULL,
  min_ns     DOUBLE          NOT NULL,
  max_ns     DOUBLE          NOT NULL,
  updated_at TIMESTAMP(6)    NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
                             ON UPDATE CURRENT_TIMESTAMP(6),
  PRIMARY KEY (operation)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Rows locked with SELECT ... FOR UPDATE to serialize short critical
-- sections between writers (transaction-scoped, deadlock-detected, released
-- at COMMIT or when the connection dies): 'parents' guards the parent-call
-- tail of WriteBatch (see libs/storage/mysql/mysql_storage.h).
CREATE TABLE IF NOT EXISTS raceway_locks (
  name VARBINARY(64) NOT NULL,
  PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
INSERT IGNORE INTO raceway_locks (name) VALUES ('parents');
