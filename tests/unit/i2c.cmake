# I2C unit tests: the simulated devices against their datasheets, the
# kos_i2c_protocol wire codec, and the server's request handling and access
# list. (System tests are in tests/poukai/i2c.cmake.)
kos_test(i2c_models
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_i2c_models.c
  LIBS i2c_server_core
  LABELS unit i2c)
kos_test(i2c_wire
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_i2c_wire.c
  LIBS i2c_server_core
  LABELS unit i2c)
