# System tests of the Poukai base layer (layers/poukai.yaml): whole systems
# on sim booted with kos-tool run, with and without a device key bundle,
# exercising key_store, self_test, rng_server and log_server through their
# protocols and the refusals the manifests imply; Core's handling of --keys
# and of self-test reports.
kos_add_app(t_poukai ${CMAKE_CURRENT_LIST_DIR}/poukai_app.c)

set(_pkl_dir ${CMAKE_CURRENT_BINARY_DIR}/poukai_layer)
foreach(sys poukai_full poukai_lean poukai_noreport poukai_incomplete poukai_hang)
  kos_add_system(t_pkl_${sys} MANIFEST ${CMAKE_CURRENT_LIST_DIR}/${sys}.yaml
                 APPS t_poukai OUTPUT ${_pkl_dir}/${sys}.zip)
endforeach()

foreach(t poukai_keys poukai_self_test poukai_lean)
  add_test(NAME ${t} COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_${t}.sh)
  set_tests_properties(${t} PROPERTIES
    ENVIRONMENT "KOS_TOOL=$<TARGET_FILE:kos-tool>;KOS_TRUST=${CMAKE_BINARY_DIR}/kos-keys/release.pub;KOS_IMAGES=${_pkl_dir};KOS_EXAMPLES=${CMAKE_BINARY_DIR}/examples"
    LABELS "system;poukai;keystore;self_test" TIMEOUT 180)
endforeach()
