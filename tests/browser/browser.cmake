# The web UI in a real browser (tests/browser/README.md): each test is a
# node script driving Debian's chromium with playwright-core, and starts
# its own Studio in a scratch folder on free ports with a real sim device
# provisioned against it (studio.js), and stops both.
if(TARGET kos-server AND TARGET kos-tool)
  find_program(KOS_NODE NAMES node nodejs)
  if(NOT KOS_NODE)
    message(WARNING "node not found: the browser tests are not registered (scripts/install-deps.sh installs it)")
  else()
    foreach(t pages console restart escape traces shell pending debug generations push)
      add_test(NAME browser_${t} COMMAND ${KOS_NODE} ${CMAKE_CURRENT_LIST_DIR}/test_${t}.js)
      set_tests_properties(browser_${t} PROPERTIES
        ENVIRONMENT "KOS_TOOL=$<TARGET_FILE:kos-tool>;KOS_TRUST=${CMAKE_BINARY_DIR}/kos-keys/release.pub;KOS_KEY=${CMAKE_BINARY_DIR}/kos-keys/release.key;KOS_T_APP=$<TARGET_FILE:t_app>"
        LABELS "browser;server" TIMEOUT 300)
    endforeach()
  endif()
endif()
