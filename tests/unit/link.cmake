# The device link (lib/link): the upgrade parsers and frame checker, and a
# client and a server session over a socketpair in one event loop, with a
# raw peer for every protocol violation.
if(TARGET kos_link)
  kos_test(link
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_link.c
    LIBS kos_link
    LABELS unit link)
endif()
