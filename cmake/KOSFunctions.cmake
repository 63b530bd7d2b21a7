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
#                  [LAYER_DIRS <dir>...])
#       Compiles the manifest and packs it with the apps' binaries and the
#       KOS components it names into a signed system image (default
#       <build dir>/<name>.zip), rebuilt whenever any of them changes.
#       Without KEY, the image is signed with KOS_RELEASE_KEY if that is set,
#       else with a development key made once per build tree in
#       <top build dir>/kos-keys/ (release.key, release.pub); boot such images
#       with `kos-tool run --trust <top build dir>/kos-keys/release.pub`.
#       The image's path is in the target property KOS_IMAGE.
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
  cmake_parse_arguments(S "" "MANIFEST;KEY;OUTPUT" "APPS;BIN_DIRS;LAYER_DIRS" ${ARGN})
  if(NOT S_MANIFEST)
    message(FATAL_ERROR "kos_add_system(${name}): MANIFEST is required")
  endif()
  get_filename_component(manifest ${S_MANIFEST} ABSOLUTE)
  if(NOT S_OUTPUT)
    set(S_OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/${name}.zip)
  endif()
  # A relative OUTPUT is in the build directory, as CMake reads OUTPUT, and
  # its folder is made, whichever generator runs the command.
  get_filename_component(S_OUTPUT ${S_OUTPUT} ABSOLUTE BASE_DIR ${CMAKE_CURRENT_BINARY_DIR})
  get_filename_component(out_dir ${S_OUTPUT} DIRECTORY)
  set(key_deps)
  if(NOT S_KEY AND KOS_RELEASE_KEY)
    set(S_KEY ${KOS_RELEASE_KEY})
  endif()
  if(NOT S_KEY)
    _kos_dev_key(S_KEY)
    set(key_deps kos_dev_release_key ${S_KEY})
  endif()

  set(args manifest.build ${manifest} -o ${S_OUTPUT} --key ${S_KEY})
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
  add_custom_command(
    OUTPUT ${S_OUTPUT}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${out_dir}
    COMMAND $<TARGET_FILE:kos::kos-tool> ${args}
    DEPENDS ${deps} kos::kos-tool
    COMMENT "Building system image ${S_OUTPUT}"
    VERBATIM)
  add_custom_target(${name} ALL DEPENDS ${S_OUTPUT})
  set_target_properties(${name} PROPERTIES KOS_IMAGE ${S_OUTPUT})
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
