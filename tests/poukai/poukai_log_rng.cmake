# System tests of rng_server and log_server: real systems on sim, booted
# with kos-tool run, checked on their consoles; plus an offline reader of
# log_server's store file (what `kos-tool log.view --store` will use).
kos_add_app(t_logrng ${CMAKE_CURRENT_LIST_DIR}/logrng_app.c)

set(_pk_dir ${CMAKE_CURRENT_BINARY_DIR}/poukai)
foreach(sys rng_basic rng_fips log_basic log_persist log_flood)
  kos_add_system(t_pk_${sys} MANIFEST ${CMAKE_CURRENT_LIST_DIR}/${sys}.yaml
                 APPS t_logrng rng_server log_server OUTPUT ${_pk_dir}/${sys}.zip)
endforeach()

foreach(t rng_basic rng_fips log_basic log_persist log_flood)
  add_test(NAME poukai_${t} COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_${t}.sh)
  set_tests_properties(poukai_${t} PROPERTIES
    ENVIRONMENT "KOS_TOOL=$<TARGET_FILE:kos-tool>;KOS_TRUST=${CMAKE_BINARY_DIR}/kos-keys/release.pub;KOS_IMAGES=${_pk_dir};KOS_EXAMPLES=${CMAKE_BINARY_DIR}/examples"
    LABELS "system;poukai" TIMEOUT 180)
endforeach()
