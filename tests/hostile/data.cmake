# An app's /data against the host and Core (issue 8): links swapped in while
# Core removes the state directory, folder chains past any fixed depth, a
# full /data, setuid and world-writable files, and the host uid ranges of
# Cores running at once. Run as root; the unprivileged paths drop to nobody.
kos_add_app(data_attack ${CMAKE_CURRENT_LIST_DIR}/data_attack.c)
foreach(sys data_swap data_chain data_fill data_suid)
  kos_add_system(t_sys_${sys} MANIFEST ${CMAKE_CURRENT_LIST_DIR}/${sys}.yaml
                 APPS data_attack hostile OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/images/${sys}.zip)
endforeach()
foreach(t data_swap data_chain data_fill data_suid uid_ranges)
  add_test(NAME hostile_${t} COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_${t}.sh)
  set_tests_properties(hostile_${t} PROPERTIES
    ENVIRONMENT "KOS_TOOL=$<TARGET_FILE:kos-tool>;KOS_TRUST=${CMAKE_BINARY_DIR}/kos-keys/release.pub;KOS_KEY=${CMAKE_BINARY_DIR}/kos-keys/release.key;KOS_IMAGES=${CMAKE_CURRENT_BINARY_DIR}/images;KOS_DATA_ATTACK=$<TARGET_FILE:data_attack>"
    LABELS "system;hostile" TIMEOUT 240 SKIP_RETURN_CODE 77)
endforeach()
