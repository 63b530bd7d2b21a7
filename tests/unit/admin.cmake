# admin's parts (components/admin/admin.h): settings, the queue of records,
# the agent driven with encoded AdminDown messages.
kos_test(admin SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_admin.c LIBS admin_core LABELS "unit;admin")
target_include_directories(test_admin PRIVATE ${PROJECT_SOURCE_DIR}/tests/fuzz) # admin_msg.h
# admin's remote shell (components/admin/shell.c): the command parser, and
# the session driven with encoded ShellDown messages.
kos_test(admin_shell SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_admin_shell.c LIBS admin_core
         LABELS "unit;admin")
target_include_directories(test_admin_shell PRIVATE ${PROJECT_SOURCE_DIR}/tests/fuzz) # shell_msg.h
# admin's remote debugging (components/admin/debug.c): the relay driven
# with encoded DebugDown messages and a socket pair for the agent.
kos_test(admin_debug SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_admin_debug.c LIBS admin_core
         LABELS "unit;admin")
# admin's upgrades (components/admin/upgrade.c): an Upgrade command carried
# out through fake ops for Core's store interface and the tunnel's fetch.
kos_test(admin_upgrade SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_admin_upgrade.c LIBS admin_core
         LABELS "unit;admin")
