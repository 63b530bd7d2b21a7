# ethernet unit tests: the kos_ethernet_protocol wire codec and host syntax,
# and the component's settings (allow list, hosts table, numbers), each with
# malformed input. (System tests are in tests/poukai/ethernet.cmake.)
kos_test(ethernet_wire
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_ethernet_wire.c
  LIBS kos_internal
  LABELS unit ethernet)
kos_test(ethernet_acl
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_ethernet_acl.c
  LIBS ethernet_core
  LABELS unit ethernet)
