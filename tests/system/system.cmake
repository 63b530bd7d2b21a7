# System tests: real systems built from manifests and booted with kos-tool run.
kos_add_app(t_app ${CMAKE_CURRENT_LIST_DIR}/t_app.c ${CMAKE_CURRENT_LIST_DIR}/t_sys.c)
target_link_libraries(t_app PRIVATE kos_internal) # t_sys.c speaks lib/sys_int.h
foreach(sys supervise denied inspect console unsigned restart appfail ready_after_exit
            stop_order never_ready sysif sysif_reboot sysif_flood sysif_bad)
  kos_add_system(t_sys_${sys} MANIFEST ${CMAKE_CURRENT_LIST_DIR}/${sys}.yaml APPS t_app
                 OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/system/${sys}.zip)
endforeach()
# A message server whose "binary" is not an ELF file.
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/not_elf/not_elf "#!/bin/sh\necho not an ELF file\n")
kos_add_system(t_sys_srvfail MANIFEST ${CMAKE_CURRENT_LIST_DIR}/srvfail.yaml APPS t_app
               BIN_DIRS ${CMAKE_CURRENT_BINARY_DIR}/not_elf
               OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/system/srvfail.zip)

set(KOS_SYSTEM_TEST_ENV
  KOS_TOOL=$<TARGET_FILE:kos-tool>
  KOS_TRUST=${CMAKE_BINARY_DIR}/kos-keys/release.pub
  KOS_IMAGES=${CMAKE_CURRENT_BINARY_DIR}/system
  KOS_EXAMPLES=${CMAKE_BINARY_DIR}/examples
  KOS_KEY=${CMAKE_BINARY_DIR}/kos-keys/release.key
  KOS_T_APP=$<TARGET_FILE:t_app>)

foreach(t boot_examples supervise denied fds console tamper log_view restart start_fail ready
          stop_order sysif storage)
  add_test(NAME system_${t}
           COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_${t}.sh)
  set_tests_properties(system_${t} PROPERTIES
    ENVIRONMENT "${KOS_SYSTEM_TEST_ENV}" LABELS system TIMEOUT 120)
endforeach()
