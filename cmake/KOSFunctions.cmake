# KOSFunctions.cmake - building KOS apps and systems.
#
#   kos_add_app(<name> <source>...)
#       An app binary linked with libkos. The target's name is the binary's
#       name that a manifest refers to (`binary:`, which defaults to the app's
#       name). Outside Debug builds its debug information is split off into
#       <binary>.debug (kos_split_debug()).
#
#   kos_add_system(<name> MANIFEST <system.yaml> [APPS <target>...]
#                  [KEY <release.key>] [OUTPUT <file.zip>] [BIN_DIRS <dir>...]
#                  [LAYER_DIRS <dir>...] [STRICT] [TRUST <release.pub>]
#                  [RUN_ARGS <arg>...])
#       Compiles the manifest and packs it with the apps' binaries and the
#       KOS components it names into a signed system image (default
#       <build dir>/<name>.zip), rebuilt whenever any of them, or the key
#       file, changes. The assurance checks' errors and warnings are printed
#       in the build's output; with STRICT they fail the build
#       (manifest.build --strict).
#       Without KEY, the image is signed with KOS_RELEASE_KEY if that is set,
#       else with a development key made once per build tree in
#       <top build dir>/kos-keys/ (release.key, release.pub). A relative KEY
#       or KOS_RELEASE_KEY is taken from the folder of the calling
#       CMakeLists.txt, as MANIFEST is.
#       Adds the target run_<name>, which builds the image and boots it with
#       the SDK's `kos-tool run <image> --trust <public key> <RUN_ARGS>`
#       (`cmake --build build -t run_<name>`); the first system of a project
#       also gets the target `run` (unless the project has one). The public
#       key is TRUST, else the key's .pub beside its .key (release.pub beside
#       release.key, as kos-tool keys.generate writes them).
#       The image's path is in the target property KOS_IMAGE, the public key
#       in KOS_TRUST.
#
#   kos_protobuf_generate(<target> PROTOS <file.proto>... [IMPORT_DIRS <dir>...])
#       Compiles protobuf schemas with protoc-c (`protoc-c --c_out`) into C
#       sources that are added to <target>, with the generated headers on its
#       include path (`#include "<file>.pb-c.h"`) and the target linked with
#       libprotobuf-c. Each target gets its own generated copy in
#       <build dir>/<target>_pb/, so several apps may use one schema. Import
#       paths are each schema's folder, then IMPORT_DIRS. Needs the Debian
#       packages protobuf-c-compiler and libprotobuf-c-dev
#       (scripts/install-deps.sh). libprotobuf-c is linked statically when
#       its static library is installed (Debian ships libprotobuf-c.a), as
#       libkos is, so the app's binary is all its image needs; otherwise the
#       shared library is linked, which is fine on `sim` only (see
#       docs/packages/protobuf.md).

# Outside Debug builds, a binary that goes into system images keeps its
# debug information beside it, in <binary>.debug (found by gdb through the
# binary's .gnu_debuglink), and is itself stripped of it: images carry what
# runs, a third of the size, and Core inflates and hashes less at boot.
function(kos_split_debug target)
  if(CMAKE_OBJCOPY AND NOT CMAKE_BUILD_TYPE STREQUAL "Debug")
    add_custom_command(TARGET ${target} POST_BUILD
      COMMAND ${CMAKE_OBJCOPY} --only-keep-debug $<TARGET_FILE:${target}>
              $<TARGET_FILE:${target}>.debug
      COMMAND ${CMAKE_OBJCOPY} --strip-debug
              --add-gnu-debuglink=$<TARGET_FILE:${target}>.debug $<TARGET_FILE:${target}>
      VERBATIM)
  endif()
endfunction()

function(kos_add_app name)
  add_executable(${name} ${ARGN})
  target_link_libraries(${name} PRIVATE kos::kos)
  kos_split_debug(${name})
endfunction()

# The development release key of this build tree, made on first use.
function(_kos_dev_key out_key)
  set(dir ${CMAKE_BINARY_DIR}/kos-keys)
  if(NOT TARGET kos_dev_release_key)
    add_custom_command(
      OUTPUT ${dir}/release.key ${dir}/release.pub
      COMMAND $<TARGET_FILE:kos::kos-tool> keys.generate --release --out ${dir}
      COMMENT "Making a development release key in ${dir}"
      VERBATIM)
    add_custom_target(kos_dev_release_key DEPENDS ${dir}/release.key ${dir}/release.pub)
  endif()
  set(${out_key} ${dir}/release.key PARENT_SCOPE)
endfunction()

function(kos_add_system name)
  cmake_parse_arguments(S "STRICT" "MANIFEST;KEY;OUTPUT;TRUST" "APPS;BIN_DIRS;LAYER_DIRS;RUN_ARGS"
                        ${ARGN})
  if(NOT S_MANIFEST)
    message(FATAL_ERROR "kos_add_system(${name}): MANIFEST is required")
  endif()
  if(S_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "kos_add_system(${name}): unknown arguments ${S_UNPARSED_ARGUMENTS}; "
                        "it takes MANIFEST, APPS, KEY, OUTPUT, BIN_DIRS, LAYER_DIRS, STRICT, "
                        "TRUST and RUN_ARGS")
  endif()
  get_filename_component(manifest ${S_MANIFEST} ABSOLUTE)
  if(NOT S_OUTPUT)
    set(S_OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/${name}.zip)
  endif()
  # A relative OUTPUT is in the build directory, as CMake reads OUTPUT, and
  # its folder is made, whichever generator runs the command.
  get_filename_component(S_OUTPUT ${S_OUTPUT} ABSOLUTE BASE_DIR ${CMAKE_CURRENT_BINARY_DIR})
  get_filename_component(out_dir ${S_OUTPUT} DIRECTORY)
  if(NOT S_KEY AND KOS_RELEASE_KEY)
    set(S_KEY ${KOS_RELEASE_KEY})
  endif()
  if(S_KEY)
    # The key file is a dependency of the image: replacing it in place
    # re-signs the image with the new key.
    get_filename_component(S_KEY ${S_KEY} ABSOLUTE)
    get_source_file_property(generated ${S_KEY} GENERATED)
    if(NOT EXISTS ${S_KEY} AND NOT generated)
      message(FATAL_ERROR "kos_add_system(${name}): release key ${S_KEY} does not exist; make a "
                          "key pair with kos-tool keys.generate --release --out DIR")
    endif()
    set(key_deps ${S_KEY})
    string(REGEX REPLACE "\\.key$" "" trust ${S_KEY})
    set(trust ${trust}.pub)
  else()
    _kos_dev_key(S_KEY)
    set(key_deps kos_dev_release_key ${S_KEY})
    set(trust ${CMAKE_BINARY_DIR}/kos-keys/release.pub)
  endif()
  if(S_TRUST)
    get_filename_component(trust ${S_TRUST} ABSOLUTE)
  endif()

  set(args manifest.build ${manifest} -o ${S_OUTPUT} --key ${S_KEY})
  if(S_STRICT)
    list(APPEND args --strict)
  endif()
  get_property(components GLOBAL PROPERTY KOS_COMPONENT_TARGETS)
  set(deps ${manifest} ${key_deps} ${components})
  foreach(app ${S_APPS})
    list(APPEND args --bin $<TARGET_FILE_NAME:${app}>=$<TARGET_FILE:${app}>)
    list(APPEND deps ${app})
  endforeach()
  foreach(d ${S_BIN_DIRS})
    list(APPEND args --bin-dir ${d})
  endforeach()
  foreach(d ${S_LAYER_DIRS})
    list(APPEND args --layer-dir ${d})
  endforeach()
  # The layers a manifest may build on (its own folders, then the SDK's, or
  # this tree's): changing one rebuilds the image, as changing the manifest
  # does.
  foreach(d ${S_LAYER_DIRS} ${KOS_LAYERS_DIR} ${KOS_LAYERS_SOURCE_DIR})
    file(GLOB layer_files ${d}/*.yaml)
    list(APPEND deps ${layer_files})
  endforeach()
  add_custom_command(
    OUTPUT ${S_OUTPUT}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${out_dir}
    COMMAND $<TARGET_FILE:kos::kos-tool> ${args}
    DEPENDS ${deps} kos::kos-tool
    COMMENT "Building system image ${S_OUTPUT}"
    VERBATIM)
  add_custom_target(${name} ALL DEPENDS ${S_OUTPUT})
  set_target_properties(${name} PROPERTIES KOS_IMAGE ${S_OUTPUT} KOS_TRUST ${trust})

  # Booting it: `cmake --build build -t run_<name>` (and `-t run` for the
  # first system of the project), in the terminal, until the system ends
  # or Ctrl-C stops it.
  add_custom_target(run_${name}
    COMMAND $<TARGET_FILE:kos::kos-tool> run ${S_OUTPUT} --trust ${trust} ${S_RUN_ARGS}
    WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}
    USES_TERMINAL
    COMMENT "Booting system ${name} with kos-tool run (Ctrl-C stops it)"
    VERBATIM)
  add_dependencies(run_${name} ${name})
  if(NOT TARGET run)
    add_custom_target(run)
    add_dependencies(run run_${name})
  endif()
endfunction()

function(kos_protobuf_generate target)
  cmake_parse_arguments(P "" "" "PROTOS;IMPORT_DIRS" ${ARGN})
  if(NOT P_PROTOS)
    message(FATAL_ERROR "kos_protobuf_generate(${target}): PROTOS is required")
  endif()
  if(NOT TARGET ${target})
    message(FATAL_ERROR "kos_protobuf_generate(${target}): no such target")
  endif()
  find_program(KOS_PROTOC_C protoc-c)
  if(NOT KOS_PROTOC_C)
    message(FATAL_ERROR "kos_protobuf_generate: protoc-c not found; install the Debian package "
                        "protobuf-c-compiler (scripts/install-deps.sh)")
  endif()
  if(NOT TARGET PkgConfig::KOS_PROTOBUF_C)
    find_package(PkgConfig REQUIRED)
    pkg_check_modules(KOS_PROTOBUF_C REQUIRED IMPORTED_TARGET GLOBAL libprotobuf-c)
    find_library(KOS_PROTOBUF_C_STATIC NAMES libprotobuf-c.a HINTS ${KOS_PROTOBUF_C_LIBRARY_DIRS})
  endif()

  set(out_dir ${CMAKE_CURRENT_BINARY_DIR}/${target}_pb)
  file(MAKE_DIRECTORY ${out_dir})
  set(sources)
  foreach(proto ${P_PROTOS})
    get_filename_component(abs ${proto} ABSOLUTE)
    get_filename_component(dir ${abs} DIRECTORY)
    get_filename_component(stem ${abs} NAME_WLE)
    set(includes -I${dir})
    foreach(d ${P_IMPORT_DIRS})
      get_filename_component(d ${d} ABSOLUTE)
      list(APPEND includes -I${d})
    endforeach()
    set(c ${out_dir}/${stem}.pb-c.c)
    set(h ${out_dir}/${stem}.pb-c.h)
    add_custom_command(
      OUTPUT ${c} ${h}
      COMMAND ${KOS_PROTOC_C} --c_out=${out_dir} ${includes} ${abs}
      DEPENDS ${abs}
      COMMENT "Generating protobuf-c sources for ${proto} (${target})"
      VERBATIM)
    list(APPEND sources ${c} ${h})
  endforeach()
  target_sources(${target} PRIVATE ${sources})
  target_include_directories(${target} PRIVATE ${out_dir})
  if(KOS_PROTOBUF_C_STATIC)
    target_include_directories(${target} PRIVATE ${KOS_PROTOBUF_C_INCLUDE_DIRS})
    target_link_libraries(${target} PRIVATE ${KOS_PROTOBUF_C_STATIC})
  else()
    target_link_libraries(${target} PRIVATE PkgConfig::KOS_PROTOBUF_C)
  endif()
endfunction()
