# KOSFunctions.cmake - building KOS apps and systems.
#
#   kos_add_app(<name> <source>...)
#       An app binary linked with libkos. The target's name is the binary's
#       name that a manifest refers to (`binary:`, which defaults to the app's
#       name).
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

function(kos_add_app name)
  add_executable(${name} ${ARGN})
  target_link_libraries(${name} PRIVATE kos::kos)
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
  set(key_deps)
  if(NOT S_KEY AND KOS_RELEASE_KEY)
    set(S_KEY ${KOS_RELEASE_KEY})
  endif()
  if(NOT S_KEY)
    _kos_dev_key(S_KEY)
    set(key_deps kos_dev_release_key ${S_KEY})
  endif()

  set(args manifest.build ${manifest} -o ${S_OUTPUT} --key ${S_KEY})
  set(deps ${manifest} ${key_deps} ${KOS_COMPONENT_TARGETS})
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
    COMMAND $<TARGET_FILE:kos::kos-tool> ${args}
    DEPENDS ${deps} kos::kos-tool
    COMMENT "Building system image ${S_OUTPUT}"
    VERBATIM)
  add_custom_target(${name} ALL DEPENDS ${S_OUTPUT})
  set_target_properties(${name} PROPERTIES KOS_IMAGE ${S_OUTPUT})
endfunction()
