# key_store unit tests: the kos_keystore_protocol wire codec, the component's
# allow list, key file parser and request handling (with secret-buffer and
# private-byte checks), and device key bundles. (System tests are in
# tests/poukai/poukai.cmake.)
if(TARGET key_store_core)
  kos_test(keystore_wire
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_keystore_wire.c
    LIBS kos_internal
    LABELS unit keystore)
  kos_test(keystore_store
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_keystore_store.c
    LIBS key_store_core
    LABELS unit keystore)
endif()
kos_test(keystore_bundle
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_keystore_bundle.c
  LIBS kos_image OpenSSL::Crypto
  LABELS unit keystore)
if(TARGET key_store)
  target_compile_definitions(test_keystore_bundle PRIVATE
    KOS_KEY_STORE_BINARY="$<TARGET_FILE:key_store>")
  add_dependencies(test_keystore_bundle key_store)
endif()
