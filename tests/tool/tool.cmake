# kos-tool's command line: the one option parser in every sub-command
# (tests/tool/test_tool_opts.sh). test_tool_image.sh is registered with the
# image tests (tests/unit/image.cmake).
if(TARGET kos-tool AND TARGET hello_system)
  add_test(NAME tool_opts COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_tool_opts.sh)
  get_target_property(_kos_hello_image hello_system KOS_IMAGE)
  set_tests_properties(tool_opts PROPERTIES
    ENVIRONMENT "KOS_TOOL=$<TARGET_FILE:kos-tool>;KOS_IMAGE=${_kos_hello_image};KOS_TRUST=${CMAKE_BINARY_DIR}/kos-keys/release.pub;KOS_HELLO=$<TARGET_FILE:hello>;KOS_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
    LABELS "unit;tool" TIMEOUT 120)
endif()
# toolbox.relay (tool/relay.c): a QEMU device's connection to Studio.
if(TARGET kos-tool)
  add_test(NAME tool_relay COMMAND python3 ${CMAKE_CURRENT_LIST_DIR}/test_relay.py
           $<TARGET_FILE:kos-tool>)
  set_tests_properties(tool_relay PROPERTIES LABELS "unit;tool" TIMEOUT 120)
endif()
