# The SDK: install it, then build and boot examples out of tree against it.
add_test(NAME sdk_out_of_tree COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_sdk.sh)
set_tests_properties(sdk_out_of_tree PROPERTIES
  ENVIRONMENT "KOS_BUILD_DIR=${CMAKE_BINARY_DIR};KOS_SOURCE_DIR=${PROJECT_SOURCE_DIR};KOS_C_FLAGS=${CMAKE_C_FLAGS};KOS_LINK_FLAGS=${CMAKE_EXE_LINKER_FLAGS}"
  LABELS sdk TIMEOUT 300 RUN_SERIAL TRUE)
