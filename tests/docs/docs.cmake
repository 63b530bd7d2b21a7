# The docs against the code (tests/docs/README.md): C blocks compile, kos-tool
# blocks run, documented commands and options exist.
if(TARGET kos-tool)
  add_test(NAME docs COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_docs.sh)
  set_tests_properties(docs PROPERTIES
    ENVIRONMENT "KOS_SOURCE_DIR=${PROJECT_SOURCE_DIR};KOS_BUILD_DIR=${CMAKE_BINARY_DIR};KOS_CC=${CMAKE_C_COMPILER};KOS_C_FLAGS=${CMAKE_C_FLAGS};KOS_LINK_FLAGS=${CMAKE_EXE_LINKER_FLAGS}"
    LABELS docs TIMEOUT 300)
endif()
