#!/usr/bin/python3
"""Writes the seed corpora of tests/fuzz/corpus/<target>/: valid inputs (the
reference SDKs' JSON fixtures of tests/, the migrations, the Kubernetes
raceway.toml, protos and JSON lines built here) and hostile ones (every probe
input of issue 13 and the edge cases of each parser). Seeds are named
seed_*; files named found_* are fuzzer findings kept as regression inputs
and are left alone. Deterministic: rerun after changing a seed below.

Usage: tests/fuzz/make_seeds.py
"""

import base64
import json
import pathlib
import struct

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "fuzz" / "corpus"

TRACE = "5f0c7a4e-2b1d-4c8e-9a3f-0d6e1b2c3a4f"
EVENT = "0b6a3f1e-0001-4d2c-9e8f-7a6b5c4d3e2f"
EVENT2 = "0b6a3f1e-0002-4d2c-9e8f-7a6b5c4d3e2f"


def write(target, name, data):
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / f"seed_{name}").write_bytes(data)


def clear_seeds():
    for path in CORPUS.glob("*/seed_*"):
        path.unlink()


# ---------------------------------------------------------------- protobuf
# Just enough of the wire format for raceway.v1.SubmitRequest.


def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_varint(num, n):
    return varint(num << 3) + varint(n)


def field_bytes(num, data):
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    return varint(num << 3 | 2) + varint(len(data)) + data


def timestamp(seconds, nanos=0):
    return field_varint(1, seconds) + (field_varint(2, nanos) if nanos else b"")


def metadata(thread="main", service="api", **extra):
    out = field_bytes(1, thread) + field_varint(2, 42) + field_bytes(3, service)
    for k, v in extra.get("tags", {}).items():
        out += field_bytes(5, field_bytes(1, k) + field_bytes(2, v))
    if "duration_ns" in extra:
        out += field_varint(6, extra["duration_ns"])
    return out


def value_number(x):  # google.protobuf.Value{number_value}
    return varint(2 << 3 | 1) + struct.pack("<d", x)


def value_string(s):
    return field_bytes(3, s)


def value_nested_list(depth):
    v = value_number(1)
    for _ in range(depth):
        v = field_bytes(6, field_bytes(1, v))  # list_value { values: v }
    return v


def event(kind_num, kind, id_=EVENT, trace=TRACE, ts=(1760618096, 123456789), meta=None,
          parent=None, clocks=(), locks=()):
    out = field_bytes(1, id_) + field_bytes(2, trace)
    if parent is not None:
        out += field_bytes(3, parent)
    if ts is not None:
        out += field_bytes(4, timestamp(*ts))
    out += field_bytes(5, meta if meta is not None else metadata())
    for component, clock in clocks:
        out += field_bytes(6, field_bytes(1, component) + field_varint(2, clock))
    for lock in locks:
        out += field_bytes(7, lock)
    return out + field_bytes(kind_num, kind)


def submit(*events):
    return b"".join(field_bytes(1, e) for e in events)


def state_change(variable="balance", access=2, new=value_number(100)):
    return field_bytes(1, variable) + field_bytes(3, new) + field_bytes(4, "a.rs:1") + \
        field_varint(5, access)


def validation_seeds():
    t = "validation"
    call = field_bytes(1, "transfer") + field_bytes(3, value_string("x")) + field_varint(5, 12)
    write(t, "valid_kinds", submit(
        event(10, call, clocks=[(TRACE, 1)]),
        event(13, state_change(), id_=EVENT2, parent=EVENT, locks=["lock-a"]),
        event(14, field_bytes(1, "lock-a") + field_bytes(2, "Mutex"),
              id_="0b6a3f1e-0003-4d2c-9e8f-7a6b5c4d3e2f"),
        event(16, field_varint(1, 5), id_="0b6a3f1e-0004-4d2c-9e8f-7a6b5c4d3e2f"),
        event(18, field_varint(1, 200) + field_varint(4, 12),
              id_="0b6a3f1e-0005-4d2c-9e8f-7a6b5c4d3e2f",
              meta=metadata(tags={"sdk_language": "rust"}, duration_ns=1500000)),
        event(21, field_bytes(1, "Panic") + field_bytes(3, "main.rs:3"),
              id_="0b6a3f1e-0006-4d2c-9e8f-7a6b5c4d3e2f")))
    write(t, "duplicate_ids", submit(event(10, call), event(10, call)))
    write(t, "upper_case_ids", submit(event(10, call, id_=EVENT.upper(), trace=TRACE.upper())))
    write(t, "missing_kind_and_timestamp", submit(event(10, b"", ts=None)))
    write(t, "unspecified_access_type", submit(event(13, state_change(access=0))))
    write(t, "out_of_range_access_type", submit(event(13, state_change(access=99))))
    write(t, "nan_value", submit(event(13, state_change(new=value_number(float("nan"))))))
    write(t, "infinite_value", submit(event(13, state_change(new=value_number(float("inf"))))))
    write(t, "deep_value", submit(event(13, state_change(new=value_nested_list(200)))))
    write(t, "nul_in_variable", submit(event(13, state_change(variable="a\x00b"))))
    # Timestamps around the int64-nanosecond range (issue 13, bug 6).
    write(t, "year_1", submit(event(10, call, ts=(-62135596800, 0))))
    write(t, "year_9999", submit(event(10, call, ts=(253402300799, 999999999))))
    write(t, "just_past_2262", submit(event(10, call, ts=(9223372036, 854775808))))
    write(t, "nanos_out_of_range", submit(event(10, call, ts=(1, 1000000000))))
    write(t, "negative_nanos", submit(event(10, call, ts=(1, -1))))
    write(t, "huge_clock", submit(event(10, call, clocks=[("t1", (1 << 64) - 1)])))
    write(t, "empty_component", submit(event(10, call, clocks=[("", 1)])))
    write(t, "long_identifier", submit(event(10, call, meta=metadata(thread="t" * 2000))))
    write(t, "many_locks", submit(event(10, call, locks=[f"l{i}" for i in range(40)])))


# ---------------------------------------------------------------- SDK JSON


def sdk_json_seeds():
    t = "sdk_json"
    fixtures = [ROOT / "tests/ingest/fixtures/sdk_batch.json"] + \
        sorted((ROOT / "tests/graph/fixtures").glob("*.json"))
    for path in fixtures:
        body = json.loads(path.read_text())
        write(t, f"fixture_{path.stem}", json.dumps(body, separators=(",", ":"), ensure_ascii=False))
    one = json.loads((ROOT / "tests/ingest/fixtures/sdk_batch.json").read_text())["events"][0]
    text = json.dumps({"events": [one]}, separators=(",", ":"))

    def with_one(**changes):
        e = json.loads(json.dumps(one))
        for path, v in changes.items():
            node = e
            keys = path.split("__")
            for k in keys[:-1]:
                node = node[k]
            node[keys[-1]] = v
        return json.dumps({"events": [e, one]}, separators=(",", ":"))

    write(t, "one_event", text)
    # Issue 13, bug 3: a single-quoted string hiding a '"' from the nesting
    # guard, then 20k levels of nesting.
    write(t, "single_quote_then_20k_nesting",
          "{\"events\":[{\"x\":'\"'}, " + "[" * 20000 + "]" * 20000 + "]}")
    write(t, "nesting_101", "{\"events\":[" + "[" * 100 + "]" * 100 + "]}")
    write(t, "nesting_99", "{\"events\":[" + "[" * 97 + "]" * 97 + "]}")
    write(t, "single_quoted_key", "{'events':[]}")
    write(t, "trailing_dot_number", "{\"events\":[{\"x\":1.}]}")
    write(t, "nan_literal", "{\"events\":[NaN]}")
    write(t, "infinity_literal", "{\"events\":[-Infinity]}")
    write(t, "huge_exponent", "{\"events\":[1e400]}")
    write(t, "duplicate_events_key", "{\"events\":[],\"events\":[1]}")
    write(t, "duplicate_id_key", text.replace("{\"id\":", "{\"id\":\"x\",\"id\":", 1))
    write(t, "nan_duration_per_event",
          with_one(metadata__duration_ns="@").replace("\"@\"", "NaN"))
    write(t, "huge_duration_per_event",
          with_one(metadata__duration_ns="@").replace("\"@\"", "1e400"))
    write(t, "duration_beyond_int64",
          with_one(metadata__duration_ns="@").replace("\"@\"", "9223372036854775808"))
    write(t, "duration_2_53_plus_1",
          with_one(metadata__duration_ns="@").replace("\"@\"", "9007199254740993"))
    write(t, "ten_fraction_digits", with_one(timestamp="2025-10-16T12:34:56.1234567891Z"))
    write(t, "year_1", with_one(timestamp="0001-01-01T00:00:00Z"))
    write(t, "year_9999", with_one(timestamp="9999-12-31T23:59:59.999999999Z"))
    write(t, "offset_timestamp", with_one(timestamp="2025-10-16 12:34:56+05:30"))
    write(t, "upper_case_ids", with_one(id=EVENT.upper(), trace_id=TRACE.upper()))
    write(t, "clock_2_53", with_one(causality_vector=[[TRACE, 9007199254740992]]))
    write(t, "latin1_string", text.replace("transfer", "caf\udce9", 1))
    write(t, "raw_control_byte", text.replace("transfer", "a\x01b", 1))
    write(t, "escaped_nul", text.replace("transfer", "a\\u0000b", 1))
    write(t, "lone_surrogate", text.replace("transfer", "\\ud800", 1))
    write(t, "unknown_kind", with_one(kind={"Teleport": {}}))
    write(t, "function_return", with_one(kind={"FunctionReturn": {"function_name": "f"}}))
    write(t, "nulls_everywhere", with_one(parent_id=None, metadata__tags=None, lock_set=None))
    for name, body in [("empty", ""), ("spaces", "  \r\n\t"), ("array", "[]"),
                       ("object", "{}"), ("events_object", "{\"events\":{}}"),
                       ("events_empty", "{\"events\":[]}"), ("number", "1"),
                       ("truncated", text[: len(text) // 2]), ("bom", "\ufeff" + text)]:
        write(t, name, body)


# ---------------------------------------------------------------- gRPC-Web


def grpc_web_frame(flag, payload):
    return bytes([flag]) + struct.pack(">I", len(payload)) + payload


def grpc_web_seeds():
    t = "grpc_web"
    hdr = "Content-Type: application/grpc-web+proto\nX-Grpc-Web: 1\n"
    list_traces = field_varint(1, 5)  # ListTracesRequest{page_size: 5}
    ok = grpc_web_frame(0, list_traces)

    def request(headers, body):
        return (hdr + headers).encode("utf-8", "surrogateescape") + b"\n" + body

    write(t, "valid", request("", ok))
    write(t, "valid_empty_message", request("", grpc_web_frame(0, b"")))
    write(t, "valid_metadata", request("X-Request-Id: abc-123\nAuthorization: Bearer k\n"
                                       "grpc-timeout: 5S\n", ok))
    # Issue 13, bug 1: headers gRPC cannot carry.
    write(t, "control_byte_value", request("X-Foo: a\x01b\n", ok))
    write(t, "latin1_value", request("X-User-Note: caf\udce9\n", ok))
    write(t, "utf8_value", request("X-Note: caf\u00e9\n", ok))
    write(t, "space_in_name", request("X-A B: c\n", ok))
    write(t, "empty_name", request(": empty-name\n", ok))
    write(t, "tab_in_value", request("X-Tab: a\tb\n", ok))
    write(t, "del_in_value", request("X-Del: a\x7fb\n", ok))
    write(t, "cr_in_value", request("X-Cr: a\rb\n", ok))
    write(t, "bin_header", request("X-Trace-Bin: \x00\x01\n", ok))
    write(t, "upper_case_name", request("X-UPPER: v\n", ok))
    write(t, "pseudo_header", request(":authority: evil\n", ok))
    write(t, "grpc_reserved_names", request("grpc-status: 0\ngrpc-message: hi\nte: trailers\n", ok))
    write(t, "timeout_huge_hours", request("grpc-timeout: 99999999H\n", ok))
    write(t, "timeout_negative", request("grpc-timeout: -5S\n", ok))
    write(t, "timeout_plus", request("grpc-timeout: +5S\n", ok))
    write(t, "timeout_bad_unit", request("grpc-timeout: 5x\n", ok))
    # Frame flags (issue 13 risk) and malformed frames.
    write(t, "flag_compressed", request("", grpc_web_frame(0x01, list_traces)))
    write(t, "flag_7f", request("", grpc_web_frame(0x7F, list_traces)))
    write(t, "flag_trailers", request("", grpc_web_frame(0x80, b"grpc-status:0\r\n")))
    write(t, "flag_ff", request("", grpc_web_frame(0xFF, list_traces)))
    write(t, "truncated_header", request("", b"\x00\x00\x00"))
    write(t, "truncated_payload", request("", ok[:-1]))
    write(t, "huge_length", request("", b"\x00\xff\xff\xff\xff" + list_traces))
    write(t, "two_frames", request("", ok + ok))
    write(t, "no_headers", ok)


# ---------------------------------------------------------------- page tokens


def token(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=")


def i64(n):
    return struct.pack(">q", n)


def s32(s):
    s = s.encode() if isinstance(s, str) else s
    return struct.pack(">I", len(s)) + s


def page_token_seeds():
    t = "page_token"
    trace = b"T\x01" + i64(1760618096123456789) + s32(TRACE)
    ev = b"E\x01" + i64(-1) + s32(EVENT)
    access = b"A\x01" + s32("balance") + i64(0) + s32(EVENT)
    write(t, "trace", token(trace))
    write(t, "event", token(ev))
    write(t, "access", token(access))
    write(t, "trace_padded", base64.urlsafe_b64encode(trace))
    write(t, "trace_standard_alphabet", base64.b64encode(b"T\x01" + i64(-2**63) + s32(TRACE)))
    write(t, "wrong_tag", token(b"X\x01" + trace[2:]))
    write(t, "wrong_version", token(b"T\x02" + trace[2:]))
    write(t, "truncated", token(trace[:-3]))
    write(t, "trailing_byte", token(trace + b"\x00"))
    write(t, "huge_string_length", token(b"A\x01" + struct.pack(">I", 0xFFFFFFFF) + b"x"))
    write(t, "upper_case_uuid", token(b"E\x01" + i64(5) + s32(EVENT.upper())))
    write(t, "not_a_uuid", token(b"T\x01" + i64(5) + s32("../../etc/passwd")))
    write(t, "latin1_variable", token(b"A\x01" + s32(b"caf\xe9") + i64(0) + s32(EVENT)))
    write(t, "not_base64", "%%%not base64!")
    write(t, "empty", "")


# ---------------------------------------------------------------- raceway.toml


def config_seeds():
    t = "config"
    write(t, "k8s", (ROOT / "deploy/k8s/base/raceway.toml").read_text())
    write(t, "reference", """[server]
host = "0.0.0.0"
port = 8080
cors_enabled = true
cors_origins = ["https://dash.example.com"]
rate_limit_enabled = true
rate_limit_rpm = 600
auth_enabled = true
api_keys = ["prod-key-1", "prod-key-2"]
[storage]
backend = "postgres"
[storage.postgres]
connection_string = "postgresql://raceway:secret@db.internal/raceway"
[engine]
buffer_size = 10000
batch_size = 100
flush_interval_ms = 100
[race_detection]
enabled = true
[logging]
level = "warn"
[development]
cors_allow_all = false
""")
    write(t, "sqlite", "[storage]\nbackend = \"sqlite\"\n[storage.sqlite]\npath = \"r.db\"\n"
                       "[auth]\ningest_keys = [\"a\"]\nquery_keys = []\n")
    write(t, "deep_array", "[query]\ncors_origins = " + "[" * 2000 + "]" * 2000 + "\n")
    write(t, "deep_inline_table", "a = " + "{b=" * 500 + "1" + "}" * 500 + "\n")
    write(t, "huge_integer", "[ingest]\nbatch_size = 99999999999999999999999\n")
    write(t, "negative", "[ingest]\nbatch_size = -1\n")
    write(t, "float_specials", "[query]\nanomaly_sigma = nan\n[ingest]\nflush_interval_ms = inf\n")
    write(t, "duplicate_key", "[ingest]\nbatch_size = 1\nbatch_size = 2\n")
    write(t, "duplicate_table", "[ingest]\n[ingest]\n")
    write(t, "array_of_tables", "[[storage]]\nbackend = \"memory\"\n")
    write(t, "dotted_keys", "storage.sqlite.path.x = 1\n")
    write(t, "datetime", "[log]\nlevel = 1979-05-27T07:32:00Z\n")
    write(t, "latin1", "[log]\nlevel = \"caf\udce9\"\n")
    write(t, "nul_in_string", "[log]\nlevel = \"in\\u0000fo\"\n")
    write(t, "raw_nul", "[log]\x00level = \"info\"\n")
    write(t, "empty_key", "[auth]\ningest_keys = [\"\"]\n")
    write(t, "unterminated", "[ingest\nlisten = \"")


# ---------------------------------------------------------------- SQL


def sql_seeds():
    t = "sql_statements"
    for path in sorted((ROOT / "migrations").glob("*/*.sql")):
        write(t, f"migration_{path.parent.name}_{path.stem}", path.read_text())
    for name, sql in [
            ("quotes", "INSERT INTO t VALUES ('a;b', \"c;d\", `e;f`);SELECT 1;"),
            ("escaped_quote", "SELECT 'it\\'s; fine';SELECT 2"),
            ("doubled_quote", "SELECT 'it''s; fine';"),
            ("comments", "-- a; comment\nSELECT 1; /* b; */ SELECT 2; -- tail"),
            ("comment_between_tokens", "SELECT/**/1;CREATE/* x */TABLE t(a INT);"),
            ("unterminated_quote", "SELECT 'abc;"),
            ("unterminated_comment", "SELECT 1; /* never closed;"),
            ("backslash_at_end", "SELECT 'a\\"),
            ("only_separators", " ; ;\n;\t;"),
            ("dash_in_expression", "SELECT 1-1; SELECT 1--1\n;"),
            ("hash_comment", "# it's mysql;\nSELECT 1;")]:
        write(t, name, sql)


# ---------------------------------------------------------------- JSON Lines


def jsonl_seeds():
    t = "jsonl"
    base = {"id": EVENT, "trace_id": TRACE, "timestamp": "2025-10-16T12:34:56.123456789Z",
            "metadata": {"thread_id": "main", "process_id": 42, "service_name": "api",
                         "tags": {"k": "v"}, "duration_ns": "1500000"},
            "causality_vector": [{"component": "main", "clock": "3"}],
            "lock_set": ["lock-a"],
            "state_change": {"variable": "balance", "old_value": None,
                             "new_value": {"a": [1, 2.5, "x", True, None]},
                             "location": "a.rs:1", "access_type": "ACCESS_TYPE_WRITE"}}

    def line(**changes):
        e = json.loads(json.dumps(base))
        e.update(changes)
        return json.dumps(e, separators=(",", ":"))

    write(t, "state_change", line())
    write(t, "camel_case", json.dumps({"id": EVENT, "traceId": TRACE, "parentId": EVENT2,
                                       "memoryFence": {"ordering": "MEMORY_ORDERING_SEQ_CST"}}))
    write(t, "http_response", line(state_change=None, http_response={
        "status": 200, "headers": {"a": "b"}, "body": "ok", "duration_ms": "12"}))
    write(t, "file", "\n".join([line(), "", "  ", line(id=EVENT2) + "\r", line()]) + "\n")
    write(t, "unknown_field", line(extra=1))
    write(t, "two_kinds", line(custom={"name": "x"}))
    write(t, "huge_number_value", line().replace("2.5", "1e400"))
    write(t, "negative_zero_value", line().replace("2.5", "-0.0"))
    write(t, "big_integer_value", line().replace("2.5", "9007199254740993"))
    write(t, "nan_string_value", line().replace("2.5", "\"NaN\""))
    write(t, "int64_as_number", line().replace("\"1500000\"", "1500000"))
    write(t, "int64_overflow", line().replace("\"1500000\"", "\"18446744073709551616\""))
    write(t, "year_1", line(timestamp="0001-01-01T00:00:00Z"))
    write(t, "year_10000", line(timestamp="10000-01-01T00:00:00Z"))
    write(t, "enum_number", line().replace("\"ACCESS_TYPE_WRITE\"", "99"))
    # Deeper is quadratic in protobuf's JSON parser (3000 levels: 1.4 s a run
    # under ASan), which would starve the fuzzer of executions.
    write(t, "deep_value", line().replace("2.5", "[" * 200 + "]" * 200))
    write(t, "duplicate_key", line().replace("{\"id\":", "{\"id\":\"x\",\"id\":", 1))
    write(t, "latin1", line().replace("balance", "caf\udce9"))
    write(t, "truncated", line()[:40])


def main():
    clear_seeds()
    validation_seeds()
    sdk_json_seeds()
    grpc_web_seeds()
    page_token_seeds()
    config_seeds()
    sql_seeds()
    jsonl_seeds()
    total = sum(p.stat().st_size for p in CORPUS.rglob("*") if p.is_file())
    print(f"{sum(1 for _ in CORPUS.rglob('seed_*'))} seeds, {total} bytes in {CORPUS}")


if __name__ == "__main__":
    main()
