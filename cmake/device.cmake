# device.cmake - the device build inside the host build: the tree
# <build dir>/device-aarch64, configured like the cross-aarch64 preset
# (cmake/toolchain-aarch64.cmake, KOS_BUILD_DEVICE) and built with every
# host build, so that kos-tool bootstrap finds the qemu-arm-virt boot files
# and the device test (tests/device) has aarch64 binaries.
#
# The tree is KOS_DEVICE_BUILD_DIR (set by the top CMakeLists.txt). When
# Debian's aarch64 cross compiler and Core's arm64 libraries are installed,
# the target kos_device builds it (KOS_HAVE_DEVICE_BUILD); otherwise the
# host build goes on, and the device tests say what to install.
find_program(KOS_AARCH64_CC aarch64-linux-gnu-gcc)
set(KOS_HAVE_DEVICE_BUILD OFF)
# Core's libraries for arm64 (Debian's multiarch packages): without one the
# device build would fail, so there is none, and the reason is said.
set(_kos_arm64_missing "")
foreach(_lib libseccomp.so:libseccomp-dev libcap-ng.so:libcap-ng-dev libyaml.so:libyaml-dev
             libzip.so:libzip-dev libcrypto.so:libssl-dev)
  string(REPLACE ":" ";" _lib ${_lib})
  list(GET _lib 0 _file)
  list(GET _lib 1 _pkg)
  if(NOT EXISTS /usr/lib/aarch64-linux-gnu/${_file})
    list(APPEND _kos_arm64_missing ${_pkg}:arm64)
  endif()
endforeach()
if(KOS_AARCH64_CC AND _kos_arm64_missing)
  message(STATUS "No device build: ${_kos_arm64_missing} missing (scripts/install-deps.sh "
                 "installs them)")
elseif(KOS_AARCH64_CC)
  include(ExternalProject)
  set(KOS_HAVE_DEVICE_BUILD ON)
  ExternalProject_Add(kos_device
    SOURCE_DIR ${PROJECT_SOURCE_DIR}
    BINARY_DIR ${KOS_DEVICE_BUILD_DIR}
    CMAKE_GENERATOR Ninja
    CMAKE_ARGS -DCMAKE_BUILD_TYPE=Release
               -DCMAKE_TOOLCHAIN_FILE=${PROJECT_SOURCE_DIR}/cmake/toolchain-aarch64.cmake
               -DKOS_BUILD_HOST_TOOLS=OFF -DKOS_BUILD_DEVICE=ON -DKOS_BUILD_TESTS=OFF
               -DKOS_BUILD_BENCH=OFF -DKOS_BUILD_EXAMPLES=OFF -DKOS_WERROR=${KOS_WERROR}
    BUILD_ALWAYS ON
    # What the host build uses of it (tests/device, kos-tool bootstrap).
    BUILD_BYPRODUCTS ${KOS_DEVICE_BUILD_DIR}/device/qemu-arm-virt/Image
                     ${KOS_DEVICE_BUILD_DIR}/device/qemu-arm-virt/initramfs.cpio.gz
                     ${KOS_DEVICE_BUILD_DIR}/device/bin/hello
                     ${KOS_DEVICE_BUILD_DIR}/components/bin/msg0
    INSTALL_COMMAND ""
    USES_TERMINAL_BUILD ON)
else()
  message(STATUS "aarch64-linux-gnu-gcc not found: no device build (scripts/install-deps.sh "
                 "installs gcc-aarch64-linux-gnu)")
endif()
