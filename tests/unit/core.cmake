# Unit tests of Core's pieces and of the Core<->process control records.
kos_test(boot SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_boot.c LIBS kos_internal LABELS unit)
kos_test(console SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_console.c LIBS kos_core LABELS unit)
find_package(Threads REQUIRED)
kos_test(tree SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_tree.c LIBS kos_core Threads::Threads LABELS unit)
kos_test(uids SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_uids.c LIBS kos_core LABELS unit)
# Core's system interface: its records (lib/sys_int.h) and Core's queue of
# console lines for the managing app (core/sysq_int.h).
kos_test(sys SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_sys.c LIBS kos_core LABELS unit)
