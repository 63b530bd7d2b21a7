# device.cmake - the device builds inside the host build: the trees
# <build dir>/device-aarch64 and <build dir>/device-armhf, configured like
# the cross-aarch64 and cross-armhf presets (cmake/toolchain-*.cmake,
# KOS_BUILD_DEVICE) and built with every host build, so that kos-tool
# bootstrap finds the boards' boot files (qemu-arm-virt and the arm64
# boards; am335x) and the device tests (tests/device) have binaries for
# both architectures.
#
# The trees are KOS_DEVICE_BUILD_DIR and KOS_DEVICE_ARMHF_BUILD_DIR (set by
# the top CMakeLists.txt). When Debian's cross compiler and Core's libraries
# for the architecture are installed, the target kos_device (aarch64) or
# kos_device_armhf builds it (KOS_HAVE_DEVICE_BUILD,
# KOS_HAVE_DEVICE_BUILD_ARMHF); otherwise the host build goes on, and the
# device tests say what to install.
include(ExternalProject)

# _kos_device_build(ARCH VAR TARGET DIR TOOLCHAIN CC DEBARCH TRIPLET
#                   [FILE...]): the device tree DIR for ARCH, built by
# TARGET with compiler CC, when CC and Core's DEBARCH libraries (in
# /usr/lib/TRIPLET) are there; VAR says whether it is. FILE... are what the
# host build uses of it (its byproducts).
function(_kos_device_build arch var target dir toolchain cc debarch triplet)
  find_program(_cc_${arch} ${cc})
  set(${var} OFF PARENT_SCOPE)
  if(NOT _cc_${arch})
    message(STATUS "${cc} not found: no ${arch} device build (scripts/install-deps.sh "
                   "installs it)")
    return()
  endif()
  # Core's libraries for the architecture (Debian's multiarch packages):
  # without one the device build would fail, so there is none, and the
  # reason is said.
  set(_missing "")
  foreach(_lib libseccomp.so:libseccomp-dev libcap-ng.so:libcap-ng-dev libyaml.so:libyaml-dev
               libzip.so:libzip-dev libcrypto.so:libssl-dev)
    string(REPLACE ":" ";" _lib ${_lib})
    list(GET _lib 0 _file)
    list(GET _lib 1 _pkg)
    if(NOT EXISTS /usr/lib/${triplet}/${_file})
      list(APPEND _missing ${_pkg}:${debarch})
    endif()
  endforeach()
  # The armhf toolchain's libevent headers (scripts/install-deps.sh unpacks them).
  if(arch STREQUAL "armhf" AND
     NOT EXISTS ${PROJECT_SOURCE_DIR}/build/sysroot-armhf/usr/include/event2/event-config.h)
    list(APPEND _missing "libevent-dev:armhf's headers in build/sysroot-armhf")
  endif()
  if(_missing)
    message(STATUS "No ${arch} device build: ${_missing} missing (scripts/install-deps.sh "
                   "installs them)")
    return()
  endif()
  set(${var} ON PARENT_SCOPE)
  ExternalProject_Add(${target}
    SOURCE_DIR ${PROJECT_SOURCE_DIR}
    BINARY_DIR ${dir}
    CMAKE_GENERATOR Ninja
    CMAKE_ARGS -DCMAKE_BUILD_TYPE=Release
               -DCMAKE_TOOLCHAIN_FILE=${PROJECT_SOURCE_DIR}/cmake/${toolchain}
               -DKOS_BUILD_HOST_TOOLS=OFF -DKOS_BUILD_DEVICE=ON -DKOS_BUILD_TESTS=OFF
               -DKOS_BUILD_BENCH=OFF -DKOS_BUILD_EXAMPLES=OFF -DKOS_WERROR=${KOS_WERROR}
    BUILD_ALWAYS ON
    BUILD_BYPRODUCTS ${ARGN}
    INSTALL_COMMAND ""
    USES_TERMINAL_BUILD ON)
endfunction()

_kos_device_build(aarch64 KOS_HAVE_DEVICE_BUILD kos_device ${KOS_DEVICE_BUILD_DIR}
  toolchain-aarch64.cmake aarch64-linux-gnu-gcc arm64 aarch64-linux-gnu
  ${KOS_DEVICE_BUILD_DIR}/device/qemu-arm-virt/Image
  ${KOS_DEVICE_BUILD_DIR}/device/qemu-arm-virt/initramfs.cpio.gz
  ${KOS_DEVICE_BUILD_DIR}/device/bin/hello
  ${KOS_DEVICE_BUILD_DIR}/device/bin/hog
  ${KOS_DEVICE_BUILD_DIR}/device/bin/t_app
  ${KOS_DEVICE_BUILD_DIR}/components/bin/msg0)
_kos_device_build(armhf KOS_HAVE_DEVICE_BUILD_ARMHF kos_device_armhf ${KOS_DEVICE_ARMHF_BUILD_DIR}
  toolchain-armhf.cmake arm-linux-gnueabihf-gcc armhf arm-linux-gnueabihf
  ${KOS_DEVICE_ARMHF_BUILD_DIR}/device/am335x/zImage
  ${KOS_DEVICE_ARMHF_BUILD_DIR}/device/am335x/initramfs.cpio.gz
  ${KOS_DEVICE_ARMHF_BUILD_DIR}/device/bin/hello
  ${KOS_DEVICE_ARMHF_BUILD_DIR}/components/bin/msg0)
