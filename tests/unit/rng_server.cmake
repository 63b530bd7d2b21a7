# rng_server unit tests: ChaCha20 against RFC 8439's vectors (and OpenSSL's
# EVP_chacha20 on random keys), and the generator's fast key erasure.
kos_test(rng_server
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_rng_server.c
          ${PROJECT_SOURCE_DIR}/components/rng_server/chacha20.c
          ${PROJECT_SOURCE_DIR}/components/rng_server/drbg.c
  LIBS kos_internal OpenSSL::Crypto
  LABELS unit rng_server)
target_include_directories(test_rng_server PRIVATE ${PROJECT_SOURCE_DIR}/components/rng_server)
