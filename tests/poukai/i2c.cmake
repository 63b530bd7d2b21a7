# I2C system tests: i2c_server booted in real systems on `sim`, reached
# through kos_i2c_protocol by a test client; and the i2c_sensor example.
kos_add_app(i2c_t_app ${CMAKE_CURRENT_LIST_DIR}/i2c_app.c)
foreach(sys bus denied noproto badconfig)
  kos_add_system(i2c_sys_${sys} MANIFEST ${CMAKE_CURRENT_LIST_DIR}/i2c_${sys}.yaml
                 APPS i2c_t_app OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/poukai/i2c_${sys}.zip)
  add_dependencies(i2c_sys_${sys} i2c_server)
endforeach()

add_test(NAME poukai_i2c COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/i2c_test.sh)
set_tests_properties(poukai_i2c PROPERTIES
  ENVIRONMENT "KOS_TOOL=$<TARGET_FILE:kos-tool>;KOS_TRUST=${CMAKE_BINARY_DIR}/kos-keys/release.pub;KOS_IMAGES=${CMAKE_CURRENT_BINARY_DIR}/poukai;KOS_EXAMPLES=${CMAKE_BINARY_DIR}/examples"
  LABELS "system;poukai;i2c" TIMEOUT 120)
