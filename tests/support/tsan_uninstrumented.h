#ifndef RACEWAY_TESTS_SUPPORT_TSAN_UNINSTRUMENTED_H_
#define RACEWAY_TESTS_SUPPORT_TSAN_UNINSTRUMENTED_H_

// Include from exactly one file of a test binary. Under ThreadSanitizer,
// Debian's gRPC, Abseil, upb, protobuf, libpq(xx) and MySQL connector
// shared libraries are not
// instrumented: their internal synchronisation is invisible to TSan, which
// then reports races inside them and on objects they hand from one thread
// to another (absl::Status payloads, grpc completion queues). Those reports
// are suppressed; races whose stacks stay in our (instrumented) code are
// still reported.

#if defined(RACEWAY_TSAN)
extern "C" const char* __tsan_default_suppressions() {
  // grpc:: frames are gRPC's header-inlined code (instrumented) handing
  // buffers to and from its uninstrumented core threads; libstdc++.so's own
  // string code is uninstrumented too.
  return "race:grpc::\n"
         "race:libstdc++.so\n"
         "race:libcrypto.so\n"
         "race:libssl.so\n"
         "race:libgrpc.so\n"
         "race:libgpr.so\n"
         "race:libgrpc++.so\n"
         "race:libabsl_\n"
         "race:libupb.so\n"
         "race:libprotobuf.so\n"
         "race:libpq.so\n"
         "race:libpqxx\n"
         "race:libmysqlcppconn.so\n"
         "race:libmariadb.so\n"
         "deadlock:libgrpc.so\n"
         "deadlock:libabsl_\n";
}
#endif

#endif  // RACEWAY_TESTS_SUPPORT_TSAN_UNINSTRUMENTED_H_
