# The tunnel in booted systems on sim (tunnel_test.sh): a provisioned key
# bundle, a test server written with python3-websockets (link_server.py) and
# the device port's test server (devport_testsrv), each linked to by the
# real tunnel; reconnects, refusals, the allow setting, hostile servers, and
# the private key never in the tunnel's memory.
if(TARGET tunnel AND TARGET kos_devport)
  kos_add_app(t_tunnel ${CMAKE_CURRENT_LIST_DIR}/tunnel_app.c)
  add_test(NAME poukai_tunnel COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/tunnel_test.sh)
  set_tests_properties(poukai_tunnel PROPERTIES
    ENVIRONMENT "KOS_TOOL=$<TARGET_FILE:kos-tool>;KOS_TRUST=${CMAKE_BINARY_DIR}/kos-keys/release.pub;KOS_KEY=${CMAKE_BINARY_DIR}/kos-keys/release.key;KOS_IMAGES=${CMAKE_CURRENT_BINARY_DIR}/poukai;KOS_EXAMPLES=${CMAKE_BINARY_DIR}/examples;KOS_TUNNEL_APP=$<TARGET_FILE:t_tunnel>;KOS_TUNNEL_DIR=${CMAKE_CURRENT_LIST_DIR};KOS_DEVPORT_SRV=$<TARGET_FILE:devport_testsrv>;KOS_SERVER_TESTS=${PROJECT_SOURCE_DIR}/tests/server"
    LABELS "system;poukai;tunnel;link" TIMEOUT 300)
  add_dependencies(t_tunnel tunnel)
  # The tunnel's blob fetch against blob_server.py (Python's ssl): good,
  # resumed and hostile answers, back-pressure, the allow setting's blobs.
  kos_add_app(t_fetch ${CMAKE_CURRENT_LIST_DIR}/fetch_app.c)
  target_link_libraries(t_fetch PRIVATE OpenSSL::Crypto)
  add_dependencies(t_fetch tunnel)
  add_test(NAME poukai_tunnel_fetch COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/fetch_test.sh)
  set_tests_properties(poukai_tunnel_fetch PROPERTIES
    ENVIRONMENT "KOS_TOOL=$<TARGET_FILE:kos-tool>;KOS_TRUST=${CMAKE_BINARY_DIR}/kos-keys/release.pub;KOS_KEY=${CMAKE_BINARY_DIR}/kos-keys/release.key;KOS_IMAGES=${CMAKE_CURRENT_BINARY_DIR}/poukai;KOS_EXAMPLES=${CMAKE_BINARY_DIR}/examples;KOS_FETCH_APP=$<TARGET_FILE:t_fetch>;KOS_TUNNEL_DIR=${CMAKE_CURRENT_LIST_DIR};KOS_SERVER_TESTS=${PROJECT_SOURCE_DIR}/tests/server"
    LABELS "system;poukai;tunnel;link" TIMEOUT 300)
  # admin's remote shell against the same kind of server, in its shell mode:
  # hostile ShellDown messages, the shell enabled and disabled.
  add_test(NAME poukai_admin_shell COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/admin_shell_test.sh)
  set_tests_properties(poukai_admin_shell PROPERTIES
    ENVIRONMENT "KOS_TOOL=$<TARGET_FILE:kos-tool>;KOS_TRUST=${CMAKE_BINARY_DIR}/kos-keys/release.pub;KOS_KEY=${CMAKE_BINARY_DIR}/kos-keys/release.key;KOS_IMAGES=${CMAKE_CURRENT_BINARY_DIR}/poukai;KOS_EXAMPLES=${CMAKE_BINARY_DIR}/examples;KOS_TUNNEL_DIR=${CMAKE_CURRENT_LIST_DIR};KOS_SERVER_TESTS=${PROJECT_SOURCE_DIR}/tests/server"
    LABELS "system;poukai;admin;link" TIMEOUT 300)
  # admin's remote debugging against the same kind of server, in its debug
  # mode: hostile DebugDown messages, debugging enabled and disabled.
  add_test(NAME poukai_admin_debug COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/admin_debug_test.sh)
  set_tests_properties(poukai_admin_debug PROPERTIES
    ENVIRONMENT "KOS_TOOL=$<TARGET_FILE:kos-tool>;KOS_TRUST=${CMAKE_BINARY_DIR}/kos-keys/release.pub;KOS_KEY=${CMAKE_BINARY_DIR}/kos-keys/release.key;KOS_IMAGES=${CMAKE_CURRENT_BINARY_DIR}/poukai;KOS_EXAMPLES=${CMAKE_BINARY_DIR}/examples;KOS_TUNNEL_DIR=${CMAKE_CURRENT_LIST_DIR};KOS_SERVER_TESTS=${PROJECT_SOURCE_DIR}/tests/server"
    LABELS "system;poukai;admin;link" TIMEOUT 300)
endif()
