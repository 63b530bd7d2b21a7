# App text made safe for a terminal (lib/text.c), as Core's console, log.view
# and log_server's record lines show it.
kos_test(text SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_text.c LIBS kos_internal LABELS unit)
