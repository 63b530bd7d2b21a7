# Fuzz harnesses (docs/fuzzing.md). In every build that has the test suite,
# each harness is linked with replay.c into fuzz_replay_<target>, and CTest
# replays its corpus, tests/fuzz/corpus/<target>/, as test fuzz_replay_<target>
# (label fuzz). With KOS_BUILD_FUZZERS (the `fuzz` preset, clang), each is
# also linked with libFuzzer into fuzz_<target>.
#
# This file is included from tests/CMakeLists.txt (it includes every
# tests/*/*.cmake) and from tests/fuzz/CMakeLists.txt (the fuzz preset, which
# builds no other tests); the guard makes the second inclusion a no-op.
include_guard(GLOBAL)

if(NOT TARGET kos_image)
  message(FATAL_ERROR "tests/fuzz needs the host libraries: set KOS_BUILD_HOST_TOOLS=ON")
endif()
if(KOS_BUILD_FUZZERS AND NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "KOS_BUILD_FUZZERS needs clang (libFuzzer); use the fuzz preset")
endif()

set(KOS_FUZZ_DIR ${CMAKE_CURRENT_LIST_DIR})
get_filename_component(KOS_FUZZ_MF_TESTS_DIR ${KOS_FUZZ_DIR}/../manifest ABSOLUTE)

# kos_fuzz_target(NAME LIBS lib...): fuzz_<NAME>.c against the listed libraries.
function(kos_fuzz_target name)
  cmake_parse_arguments(F "" "" "LIBS;SOURCES;INCLUDES" ${ARGN})
  set(srcs ${KOS_FUZZ_DIR}/fuzz_${name}.c ${F_SOURCES})
  set(defs
    KOS_FUZZ_TEST_LAYERS_DIR="${KOS_FUZZ_MF_TESTS_DIR}/layers"
    KOS_FUZZ_LAYERS_DIR="${KOS_LAYERS_SOURCE_DIR}"
    KOS_FUZZ_IMAGE_SEED_KEY="${KOS_FUZZ_DIR}/image_seed_key.pub"
    KOS_FUZZ_IMAGE_FUZZ_KEY="${KOS_FUZZ_DIR}/image_fuzz_key.pub"
    KOS_FUZZ_IMAGE_FUZZ_PRIV="${KOS_FUZZ_DIR}/image_fuzz_key.pem")

  add_executable(fuzz_replay_${name} ${KOS_FUZZ_DIR}/replay.c ${srcs})
  target_include_directories(fuzz_replay_${name} PRIVATE ${KOS_FUZZ_DIR} ${F_INCLUDES})
  target_compile_definitions(fuzz_replay_${name} PRIVATE ${defs})
  target_link_libraries(fuzz_replay_${name} PRIVATE ${F_LIBS})
  add_test(NAME fuzz_replay_${name}
    COMMAND fuzz_replay_${name} ${KOS_FUZZ_DIR}/corpus/${name})
  set_tests_properties(fuzz_replay_${name} PROPERTIES LABELS fuzz)

  if(KOS_BUILD_FUZZERS)
    add_executable(fuzz_${name} ${srcs})
    target_include_directories(fuzz_${name} PRIVATE ${KOS_FUZZ_DIR} ${F_INCLUDES})
    target_compile_definitions(fuzz_${name} PRIVATE ${defs})
    target_link_libraries(fuzz_${name} PRIVATE ${F_LIBS})
    target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
  endif()
endfunction()

kos_fuzz_target(manifest SOURCES ${KOS_FUZZ_DIR}/cm_walk.c LIBS kos_manifest)
kos_fuzz_target(compiled SOURCES ${KOS_FUZZ_DIR}/cm_walk.c LIBS kos_manifest)
# The image harness's mutator reads and writes zips (libzip) and re-signs
# with the fuzzing test key (tests/fuzz/image_fuzz_key.pem, docs/fuzzing.md).
kos_fuzz_target(image SOURCES ${KOS_FUZZ_DIR}/cm_walk.c
  LIBS kos_image kos_manifest OpenSSL::Crypto PkgConfig::LIBZIP)
kos_fuzz_target(msgwire LIBS kos_internal)
# The boot store's files on a device's storage: generation records, state.
kos_fuzz_target(store LIBS kos_image)
# Tracing: rings as an app may write them, and Core's TRACES records.
kos_fuzz_target(trace LIBS kos_internal)
# The message server's directory, driven as a whole (fuzz_msgsrv.c).
set(KOS_FUZZ_MSGSRV_DIR ${PROJECT_SOURCE_DIR}/components/msg_server)
kos_fuzz_target(msgsrv LIBS kos_internal INCLUDES ${KOS_FUZZ_MSGSRV_DIR}
  SOURCES ${KOS_FUZZ_MSGSRV_DIR}/msgsrv.c)
kos_fuzz_target(ethernet LIBS ethernet_core)
# The Poukai services' wires and settings, and the key files (docs/fuzzing.md).
set(KOS_FUZZ_LOGSRV_DIR ${PROJECT_SOURCE_DIR}/components/log_server)
kos_fuzz_target(logsrv LIBS kos_internal INCLUDES ${KOS_FUZZ_LOGSRV_DIR}
  SOURCES ${KOS_FUZZ_LOGSRV_DIR}/ring.c ${KOS_FUZZ_LOGSRV_DIR}/store.c)
kos_fuzz_target(i2c LIBS i2c_server_core)
# admin: the server's AdminDown messages and admin's settings.
kos_fuzz_target(admin LIBS admin_core)
# admin's remote shell: the server's ShellDown messages and command lines.
kos_fuzz_target(shell LIBS admin_core)
# admin's remote debugging: the server's DebugDown messages, Core, the agent.
kos_fuzz_target(debug LIBS admin_core)
if(TARGET key_store_core)
  kos_fuzz_target(keystore LIBS key_store_core)
  kos_fuzz_target(keys LIBS kos_image key_store_core OpenSSL::Crypto)
endif()

# What kos-server reads from outside: API requests, devices' messages
# through the device port's hooks, the runtime file (docs/fuzzing.md).
if(TARGET kos_server_core)
  kos_fuzz_target(studio LIBS kos_server_core)
endif()

# Writes the seed inputs from the real encoders (see fuzz_seeds.c); not a test.
add_executable(fuzz_seeds ${KOS_FUZZ_DIR}/fuzz_seeds.c)
target_compile_definitions(fuzz_seeds PRIVATE
  KOS_FUZZ_MANIFEST_TESTS_DIR="${KOS_FUZZ_MF_TESTS_DIR}"
  KOS_FUZZ_LAYERS_DIR="${KOS_LAYERS_SOURCE_DIR}")
target_link_libraries(fuzz_seeds PRIVATE kos_image kos_manifest kos_internal kos_server_proto admin_core
                      PkgConfig::LIBZIP OpenSSL::Crypto)
# The device link (lib/link): what a server reads from a device and a
# device from a server, over a bufferevent pair.
if(TARGET kos_link)
  kos_fuzz_target(link LIBS kos_link)
endif()
