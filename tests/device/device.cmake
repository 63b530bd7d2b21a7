# The qemu-arm-virt platform (docs/boards.md), label device: examples/hello
# built for aarch64 by the device build (cmake/device.cmake), packed here
# with the aarch64 message servers into a signed image; kos-tool bootstrap
# makes its disk; device_bootstrap checks the disk's layout and bootstrap's
# refusals without booting; device_boot boots it under QEMU (one boot).
set(_img ${CMAKE_CURRENT_BINARY_DIR}/device/hello.zip)
set(KOS_DEVICE_TEST_ENV
  KOS_TOOL=$<TARGET_FILE:kos-tool>
  KOS_TRUST=${CMAKE_BINARY_DIR}/kos-keys/release.pub
  KOS_KEY=${CMAKE_BINARY_DIR}/kos-keys/release.key
  KOS_DEVICE_IMAGE=${_img}
  KOS_HAVE_DEVICE_BUILD=${KOS_HAVE_DEVICE_BUILD}
  KOS_SERVER=$<TARGET_FILE:kos-server>
  KOS_DEVICE_COMPONENTS=${KOS_DEVICE_BUILD_DIR}/components/bin)
if(KOS_HAVE_DEVICE_BUILD)
  _kos_dev_key(_key)
  set(_dev ${KOS_DEVICE_BUILD_DIR})
  add_custom_command(
    OUTPUT ${_img}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_CURRENT_BINARY_DIR}/device
    COMMAND $<TARGET_FILE:kos-tool> manifest.build ${PROJECT_SOURCE_DIR}/examples/hello/system.yaml
            -o ${_img} --key ${_key} --bin hello=${_dev}/device/bin/hello
            --bin-dir ${_dev}/components/bin --strict
    DEPENDS kos-tool kos_dev_release_key ${PROJECT_SOURCE_DIR}/examples/hello/system.yaml
            ${_dev}/device/bin/hello ${_dev}/components/bin/msg0
            ${_dev}/device/qemu-arm-virt/Image ${_dev}/device/qemu-arm-virt/initramfs.cpio.gz
    COMMENT "Packing examples/hello for aarch64 into ${_img}"
    VERBATIM)
  add_custom_target(kos_device_hello ALL DEPENDS ${_img})
endif()
foreach(t bootstrap boards blockdev boot studio)
  add_test(NAME device_${t} COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_${t}.sh)
  # 77: skipped, saying which package is missing (never in CI: install-deps
  # installs them all).
  set_tests_properties(device_${t} PROPERTIES
    ENVIRONMENT "${KOS_DEVICE_TEST_ENV}" LABELS device TIMEOUT 400 SKIP_RETURN_CODE 77)
endforeach()
