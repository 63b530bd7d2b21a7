# Unit tests of the sandbox: the exec gate.
kos_test(sandbox SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_sandbox.c LIBS kos_core Threads::Threads LABELS unit)
