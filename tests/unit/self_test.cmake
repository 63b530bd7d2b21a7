# self_test unit tests: its report and the quick check of random bytes.
# (System tests, which boot the Poukai layer, are in tests/poukai/poukai.cmake.)
kos_test(self_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_self_test.c
  LIBS self_test_core
  LABELS unit self_test)
