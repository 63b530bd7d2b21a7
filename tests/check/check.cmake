# Assurance checks (manifest/check.c, kos-tool manifest.check): one positive
# and one negative manifest per rule, the waiver cases, the catalogue against
# docs/assurance.md, and the command line (text, JSON, --fail-on, examples).
set(KOS_CHECK_DIR ${CMAKE_CURRENT_LIST_DIR})

kos_test(check SOURCES ${KOS_CHECK_DIR}/test_check.c LIBS kos_manifest LABELS check)
target_compile_definitions(test_check PRIVATE KOS_LAYERS_DIR="${KOS_LAYERS_SOURCE_DIR}")

add_executable(check_rules ${KOS_CHECK_DIR}/check_rules.c)
target_link_libraries(check_rules PRIVATE kos_manifest)

# One test per rule folder (tests/check/KOS-A001/ ...) and one per other
# corpus folder.
file(GLOB _kos_check_dirs LIST_DIRECTORIES true CONFIGURE_DEPENDS ${KOS_CHECK_DIR}/KOS-A*)
foreach(dir ${_kos_check_dirs} ${KOS_CHECK_DIR}/waivers ${KOS_CHECK_DIR}/layered)
  if(IS_DIRECTORY ${dir})
    get_filename_component(_name ${dir} NAME)
    add_test(NAME check_${_name}
      COMMAND check_rules files ${dir} ${KOS_CHECK_DIR}/layers ${KOS_LAYERS_SOURCE_DIR})
    set_tests_properties(check_${_name} PROPERTIES LABELS check)
  endif()
endforeach()

add_test(NAME check_catalogue
  COMMAND check_rules catalogue ${KOS_CHECK_DIR} ${PROJECT_SOURCE_DIR}/docs/assurance.md)

add_test(NAME check_tool
  COMMAND bash ${KOS_CHECK_DIR}/test_check_tool.sh $<TARGET_FILE:kos-tool>)
set_tests_properties(check_tool PROPERTIES
  ENVIRONMENT "KOS_SOURCE_DIR=${PROJECT_SOURCE_DIR};KOS_CHECK_DIR=${KOS_CHECK_DIR}")
set_tests_properties(check_catalogue check_tool PROPERTIES LABELS check)
