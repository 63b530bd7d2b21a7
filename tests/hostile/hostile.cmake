# Hostile-app tests: a real system on sim in which one app attacks the
# sandbox, the message server and its neighbours; and devices and memory
# regions handed over as capabilities.
find_package(Threads REQUIRED)
kos_add_app(hostile ${CMAKE_CURRENT_LIST_DIR}/hostile.c)
target_link_libraries(hostile PRIVATE kos_internal Threads::Threads)
foreach(sys hostile resources)
  kos_add_system(t_sys_${sys} MANIFEST ${CMAKE_CURRENT_LIST_DIR}/${sys}.yaml APPS hostile
                 OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/images/${sys}.zip)
endforeach()

# A host-side wrapper that makes the host refuse one kind of namespace.
pkg_check_modules(T_SECCOMP REQUIRED IMPORTED_TARGET libseccomp)
add_executable(t_deny_ns ${CMAKE_CURRENT_LIST_DIR}/deny_ns.c)
target_link_libraries(t_deny_ns PRIVATE PkgConfig::T_SECCOMP)

foreach(t hostile resources sandbox probe caps)
  add_test(NAME hostile_${t} COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_${t}.sh)
  set_tests_properties(hostile_${t} PROPERTIES
    ENVIRONMENT "KOS_TOOL=$<TARGET_FILE:kos-tool>;KOS_TRUST=${CMAKE_BINARY_DIR}/kos-keys/release.pub;KOS_IMAGES=${CMAKE_CURRENT_BINARY_DIR}/images;KOS_SYSTEM_IMAGES=${CMAKE_CURRENT_BINARY_DIR}/system;KOS_DENY_NS=$<TARGET_FILE:t_deny_ns>"
    LABELS "system;hostile" TIMEOUT 180)
endforeach()
