# kos-server's modules (server/), each alone: the CA, the database, reading
# API requests, what the server does with its devices' messages (through
# the device port's hooks), and the event streams. The whole server, its
# API over HTTP and kos-tool's commands are tested in tests/system/studio.cmake.
if(TARGET kos_server_core)
  foreach(t ca store req devices events shell debug srvlog)
    kos_test(server_${t}
      SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_server_${t}.c
      LIBS kos_server_core
      LABELS unit server)
  endforeach()
endif()
