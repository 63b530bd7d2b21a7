# The Poukai base layer against the assurance checks: every example that
# builds on it, and the layer on its own, check clean (no finding at all);
# its optional entries can be named or left out.
add_test(NAME check_poukai_layer
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_poukai_layer.sh $<TARGET_FILE:kos-tool>)
set_tests_properties(check_poukai_layer PROPERTIES
  ENVIRONMENT "KOS_SOURCE_DIR=${PROJECT_SOURCE_DIR}" LABELS "check;poukai")
