# Messaging end to end: the real msg_server, booted by the test as KOS Core
# would, and app processes using the public API.
find_package(Threads REQUIRED)
kos_test(msg_integration
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_msg_integration.c ${CMAKE_CURRENT_LIST_DIR}/harness.c
  LIBS kos_internal Threads::Threads
  LABELS integration msg)
target_compile_definitions(test_msg_integration PRIVATE KOS_MSG_SERVER="$<TARGET_FILE:msg_server>")
target_include_directories(test_msg_integration PRIVATE ${CMAKE_CURRENT_LIST_DIR})
add_dependencies(test_msg_integration msg_server)
set_tests_properties(msg_integration PROPERTIES TIMEOUT 300)
