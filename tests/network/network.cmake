# kos-tool's network commands, inside a network namespace the test makes
# (tests/network/test_forwarding.sh).
add_test(NAME network_forwarding COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_forwarding.sh)
set_tests_properties(network_forwarding PROPERTIES
  ENVIRONMENT "KOS_TOOL=$<TARGET_FILE:kos-tool>" LABELS "network;tool" SKIP_RETURN_CODE 77
  TIMEOUT 60)
