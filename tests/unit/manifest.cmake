# Manifest reader and compiled form: unit tests and the manifest corpora.
set(KOS_MF_TESTS_DIR ${CMAKE_CURRENT_LIST_DIR}/../manifest)
get_filename_component(KOS_MF_TESTS_DIR ${KOS_MF_TESTS_DIR} ABSOLUTE)

kos_test(manifest SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_manifest.c LIBS kos_manifest LABELS unit)
target_compile_definitions(test_manifest PRIVATE
  KOS_TEST_LAYERS_DIR="${KOS_MF_TESTS_DIR}/layers"
  KOS_LAYERS_DIR="${KOS_LAYERS_SOURCE_DIR}")

kos_test(compiled SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_compiled.c LIBS kos_manifest LABELS unit)
target_compile_definitions(test_compiled PRIVATE KOS_LAYERS_DIR="${KOS_LAYERS_SOURCE_DIR}")

# The corpora: every file under bad/ must be refused with the error its first
# lines expect; every file under good/ must load, compile and open.
add_executable(check_bad ${KOS_MF_TESTS_DIR}/check_bad.c)
target_link_libraries(check_bad PRIVATE kos_manifest)
add_test(NAME manifest_bad_corpus
  COMMAND check_bad bad ${KOS_MF_TESTS_DIR}/bad ${KOS_MF_TESTS_DIR}/layers ${KOS_LAYERS_SOURCE_DIR})
add_test(NAME manifest_good_corpus
  COMMAND check_bad good ${KOS_MF_TESTS_DIR}/good ${KOS_MF_TESTS_DIR}/layers ${KOS_LAYERS_SOURCE_DIR})
set_tests_properties(manifest_bad_corpus manifest_good_corpus PROPERTIES LABELS unit)
