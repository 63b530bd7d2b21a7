# Hostile-app tests: a real system on sim in which one app attacks the
# sandbox, the message server and its neighbours; and devices and memory
# regions handed over as capabilities.
find_package(Threads REQUIRED)
kos_add_app(hostile ${CMAKE_CURRENT_LIST_DIR}/hostile.c ${CMAKE_CURRENT_LIST_DIR}/outcome.c)
target_link_libraries(hostile PRIVATE kos_internal Threads::Threads)
foreach(sys hostile resources best_effort console_forge console_flood console_stubborn
            console_orphan)
  kos_add_system(t_sys_${sys} MANIFEST ${CMAKE_CURRENT_LIST_DIR}/${sys}.yaml APPS hostile
                 OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/images/${sys}.zip)
endforeach()

# A host that forbids sandbox layers, as a container's seccomp profile does.
pkg_check_modules(HOST_DENY_SECCOMP REQUIRED IMPORTED_TARGET libseccomp)
add_executable(host_deny ${CMAKE_CURRENT_LIST_DIR}/host_deny.c)
target_link_libraries(host_deny PRIVATE PkgConfig::HOST_DENY_SECCOMP)

foreach(t hostile resources sandbox host_deny caps console_forge console_flood)
  add_test(NAME hostile_${t} COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_${t}.sh)
  set_tests_properties(hostile_${t} PROPERTIES
    ENVIRONMENT "KOS_TOOL=$<TARGET_FILE:kos-tool>;KOS_TRUST=${CMAKE_BINARY_DIR}/kos-keys/release.pub;KOS_IMAGES=${CMAKE_CURRENT_BINARY_DIR}/images;KOS_SYSTEM_IMAGES=${CMAKE_CURRENT_BINARY_DIR}/system;KOS_HOST_DENY=$<TARGET_FILE:host_deny>"
    LABELS "system;hostile" TIMEOUT 180)
endforeach()

# Descriptor passing under attack: the system is built by the test once it
# knows the loopback peers' ports.
kos_add_app(fdpass ${CMAKE_CURRENT_LIST_DIR}/fdpass.c ${CMAKE_CURRENT_LIST_DIR}/outcome.c)
target_link_libraries(fdpass PRIVATE kos_internal Threads::Threads)
add_test(NAME hostile_fdpass COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_fdpass.sh)
set_tests_properties(hostile_fdpass PROPERTIES
  ENVIRONMENT "KOS_TOOL=$<TARGET_FILE:kos-tool>;KOS_TRUST=${CMAKE_BINARY_DIR}/kos-keys/release.pub;KOS_KEY=${CMAKE_BINARY_DIR}/kos-keys/release.key;KOS_FDPASS=$<TARGET_FILE:fdpass>;KOS_HOSTILE_DIR=${CMAKE_CURRENT_LIST_DIR};KOS_ETH_DIR=${CMAKE_CURRENT_LIST_DIR}/../poukai"
  LABELS "system;hostile" TIMEOUT 180)

# Holding more of the host than the manifest grants: processes, kernel
# memory, host-wide counters, file modes in /data.
kos_add_app(hog ${CMAKE_CURRENT_LIST_DIR}/hog.c ${CMAKE_CURRENT_LIST_DIR}/outcome.c)
target_link_libraries(hog PRIVATE Threads::Threads)
kos_add_system(t_sys_limits MANIFEST ${CMAKE_CURRENT_LIST_DIR}/limits.yaml APPS hog
               OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/images/limits.zip)
add_test(NAME hostile_limits COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_limits.sh)
set_tests_properties(hostile_limits PROPERTIES
  ENVIRONMENT "KOS_TOOL=$<TARGET_FILE:kos-tool>;KOS_TRUST=${CMAKE_BINARY_DIR}/kos-keys/release.pub;KOS_IMAGES=${CMAKE_CURRENT_BINARY_DIR}/images"
  LABELS "system;hostile" TIMEOUT 180)
