# kos-server's device port (server/devport.c): a test server around it
# (devport_testsrv, hooks in the test) and an independent client written
# with python3-websockets, good and bad (devport_test.sh).
if(TARGET kos_devport)
  add_executable(devport_testsrv ${CMAKE_CURRENT_LIST_DIR}/devport_testsrv.c)
  target_link_libraries(devport_testsrv PRIVATE kos_devport)
  add_test(NAME server_devport COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/devport_test.sh)
  set_tests_properties(server_devport PROPERTIES
    ENVIRONMENT "KOS_DEVPORT_SRV=$<TARGET_FILE:devport_testsrv>;KOS_SERVER_TESTS=${CMAKE_CURRENT_LIST_DIR}"
    LABELS "server;link" TIMEOUT 180)
endif()
