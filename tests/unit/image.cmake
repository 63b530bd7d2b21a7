# System images and release keys: unit tests of manifest/image.c and
# manifest/keys.c, and a test of the kos-tool commands that use them.
kos_test(image SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_image.c
  LIBS kos_image kos_manifest PkgConfig::LIBZIP OpenSSL::Crypto LABELS unit)

if(TARGET kos-tool)
  add_test(NAME tool_image
    COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/../tool/test_tool_image.sh $<TARGET_FILE:kos-tool>)
  set_tests_properties(tool_image PROPERTIES LABELS unit)
endif()
