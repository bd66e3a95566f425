# The SDK JSON codec for POST /events (reference Raceway SDK body <->
# raceway.v1.Event). Included from services/ingest/CMakeLists.txt; depends on
# the event model and protobuf only (no gRPC, no storage).
if(NOT TARGET raceway_sdk_json)
  add_library(raceway_sdk_json STATIC ${CMAKE_CURRENT_LIST_DIR}/sdk_json.cc
              ${CMAKE_CURRENT_LIST_DIR}/sdk_body_scanner.cc)
  target_include_directories(raceway_sdk_json PUBLIC ${PROJECT_SOURCE_DIR})
  target_compile_options(raceway_sdk_json PRIVATE ${RACEWAY_WARNINGS})
  target_link_libraries(raceway_sdk_json PUBLIC raceway_model protobuf::libprotobuf)
endif()
