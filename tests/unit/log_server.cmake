# log_server unit tests: the record encoding, the store format (including
# damaged and truncated files), the ring, the token bucket, and the store
# file's append and rewrite.
kos_test(log_server
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_log_server.c
          ${PROJECT_SOURCE_DIR}/components/log_server/bucket.c
          ${PROJECT_SOURCE_DIR}/components/log_server/ring.c
          ${PROJECT_SOURCE_DIR}/components/log_server/store.c
  LIBS kos_internal
  LABELS unit log_server)
target_include_directories(test_log_server PRIVATE ${PROJECT_SOURCE_DIR}/components/log_server)
