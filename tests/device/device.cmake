# The device tests (docs/boards.md), label device. Systems built for a
# device by the device builds (cmake/device.cmake), packed here with that
# architecture's message servers into signed images: examples/hello and
# cgroup.yaml for aarch64, examples/hello for armhf. device_bootstrap and
# device_boards check disks' layouts and bootstrap's refusals without
# booting; device_boot boots hello under QEMU (qemu-arm-virt), device_cgroup
# the cgroup limits' system, device_armhf the am335x disk's armhf kernel and
# initramfs in QEMU's 32-bit virt machine: one boot each.
set(_img ${CMAKE_CURRENT_BINARY_DIR}/device/hello.zip)
set(_cg_img ${CMAKE_CURRENT_BINARY_DIR}/device/cgroup.zip)
set(_armhf_img ${CMAKE_CURRENT_BINARY_DIR}/device/hello-armhf.zip)
set(KOS_DEVICE_TEST_ENV
  KOS_TOOL=$<TARGET_FILE:kos-tool>
  KOS_TRUST=${CMAKE_BINARY_DIR}/kos-keys/release.pub
  KOS_KEY=${CMAKE_BINARY_DIR}/kos-keys/release.key
  KOS_DEVICE_IMAGE=${_img}
  KOS_DEVICE_CGROUP_IMAGE=${_cg_img}
  KOS_DEVICE_ARMHF_IMAGE=${_armhf_img}
  KOS_HAVE_DEVICE_BUILD=${KOS_HAVE_DEVICE_BUILD}
  KOS_HAVE_DEVICE_BUILD_ARMHF=${KOS_HAVE_DEVICE_BUILD_ARMHF}
  KOS_DEVICE_ARMHF_DIR=${KOS_DEVICE_ARMHF_BUILD_DIR}/device
  KOS_SERVER=$<TARGET_FILE:kos-server>
  KOS_DEVICE_COMPONENTS=${KOS_DEVICE_BUILD_DIR}/components/bin)

# _kos_device_image(OUT MANIFEST DEVICE_DIR TARGET BOOT_FILE APP...): packs
# MANIFEST with the apps APP... from DEVICE_DIR/device/bin and the message
# servers from DEVICE_DIR/components/bin into OUT, by target TARGET, after
# the device build made BOOT_FILE (its kernel and initramfs are made last).
function(_kos_device_image out manifest dev target boot)
  _kos_dev_key(_key)
  set(_bins)
  set(_deps)
  foreach(_app ${ARGN})
    list(APPEND _bins --bin ${_app}=${dev}/device/bin/${_app})
    list(APPEND _deps ${dev}/device/bin/${_app})
  endforeach()
  get_filename_component(_name ${out} NAME)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_CURRENT_BINARY_DIR}/device
    COMMAND $<TARGET_FILE:kos-tool> manifest.build ${manifest} -o ${out} --key ${_key} ${_bins}
            --bin-dir ${dev}/components/bin --strict
    DEPENDS kos-tool kos_dev_release_key ${manifest} ${_deps} ${dev}/components/bin/msg0 ${boot}
    COMMENT "Packing ${_name} from ${dev}"
    VERBATIM)
  add_custom_target(${target} ALL DEPENDS ${out})
endfunction()

if(KOS_HAVE_DEVICE_BUILD)
  set(_dev ${KOS_DEVICE_BUILD_DIR})
  _kos_device_image(${_img} ${PROJECT_SOURCE_DIR}/examples/hello/system.yaml ${_dev}
                    kos_device_hello ${_dev}/device/qemu-arm-virt/initramfs.cpio.gz hello)
  _kos_device_image(${_cg_img} ${CMAKE_CURRENT_LIST_DIR}/cgroup.yaml ${_dev}
                    kos_device_cgroup ${_dev}/device/qemu-arm-virt/initramfs.cpio.gz hog t_app)
endif()
if(KOS_HAVE_DEVICE_BUILD_ARMHF)
  set(_dev ${KOS_DEVICE_ARMHF_BUILD_DIR})
  _kos_device_image(${_armhf_img} ${PROJECT_SOURCE_DIR}/examples/hello/system.yaml ${_dev}
                    kos_device_hello_armhf ${_dev}/device/am335x/initramfs.cpio.gz hello)
endif()
foreach(t bootstrap boards blockdev boot cgroup armhf studio)
  add_test(NAME device_${t} COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_${t}.sh)
  # 77: skipped, saying which package is missing (never in CI: install-deps
  # installs them all).
  set_tests_properties(device_${t} PROPERTIES
    ENVIRONMENT "${KOS_DEVICE_TEST_ENV}" LABELS device TIMEOUT 400 SKIP_RETURN_CODE 77)
endforeach()
# device_studio also upgrades the device over the link and cuts its power
# twice: four boots under TCG.
set_tests_properties(device_studio PROPERTIES TIMEOUT 1200)
