# admin (components/admin) in whole systems on sim without a server: one
# line about the link, no busy loop, its bounded buffer and the loss
# counted, its saved place in the log stream, a bad setting refused.
set(_adm_dir ${CMAKE_CURRENT_BINARY_DIR}/admin)
foreach(sys admin_idle admin_badconfig)
  kos_add_system(t_adm_${sys} MANIFEST ${CMAKE_CURRENT_LIST_DIR}/${sys}.yaml
                 APPS t_app OUTPUT ${_adm_dir}/${sys}.zip)
endforeach()
add_test(NAME poukai_admin COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_admin.sh)
set_tests_properties(poukai_admin PROPERTIES
  ENVIRONMENT "KOS_TOOL=$<TARGET_FILE:kos-tool>;KOS_TRUST=${CMAKE_BINARY_DIR}/kos-keys/release.pub;KOS_IMAGES=${_adm_dir}"
  LABELS "system;poukai;admin" TIMEOUT 120)
