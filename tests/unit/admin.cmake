# admin's parts (components/admin/admin.h): settings, the queue of records,
# the agent driven with encoded AdminDown messages.
kos_test(admin SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_admin.c LIBS admin_core LABELS "unit;admin")
target_include_directories(test_admin PRIVATE ${PROJECT_SOURCE_DIR}/tests/fuzz) # admin_msg.h
