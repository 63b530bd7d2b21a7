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
