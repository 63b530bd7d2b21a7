# Messaging unit tests: the directory wire format and the shared-memory call
# channel. (The end-to-end test is tests/msg/msg.cmake.)
kos_test(msg_wire
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_msg_wire.c
  LIBS kos_internal
  LABELS unit msg)
kos_test(msg_channel
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_msg_channel.c
  LIBS kos_internal
  LABELS unit msg)
# The message server's directory under load: fairness per turn, the unread
# queue bound, the token limits (counted, not timed).
kos_test(msgsrv
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_msgsrv.c ${PROJECT_SOURCE_DIR}/components/msg_server/msgsrv.c
  LIBS kos_internal
  LABELS unit msg)
target_include_directories(test_msgsrv PRIVATE ${PROJECT_SOURCE_DIR}/components/msg_server)
# Message tracing: the ring and the TRACES record of the system interface.
kos_test(trace
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_trace.c
  LIBS kos_internal
  LABELS unit msg)
