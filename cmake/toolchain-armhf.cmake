# Cross-compiling the device runtime for 32-bit ARM (armhf: ARMv7, hard
# float; the am335x board) with Debian's gcc-arm-linux-gnueabihf. Libraries
# come from Debian's armhf packages (multiarch: /usr/lib/arm-linux-gnueabihf),
# installed by scripts/install-deps.sh. libevent's headers are not the same
# on a 32-bit architecture (event2/event-config.h has its type sizes) and
# libevent-dev cannot be installed for two architectures at once, so
# install-deps.sh unpacks the armhf libevent-dev into build/sysroot-armhf,
# which is searched first.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR armv7l)
set(CMAKE_C_COMPILER arm-linux-gnueabihf-gcc)
set(CMAKE_LIBRARY_ARCHITECTURE arm-linux-gnueabihf)
get_filename_component(KOS_ARMHF_SYSROOT "${CMAKE_CURRENT_LIST_DIR}/../build/sysroot-armhf" ABSOLUTE)
if(NOT EXISTS ${KOS_ARMHF_SYSROOT}/usr/include/event2/event-config.h)
  # The host's event-config.h would be found instead, with 64-bit sizes.
  message(FATAL_ERROR "cross-armhf: libevent's armhf headers are missing from "
                      "${KOS_ARMHF_SYSROOT}: run scripts/install-deps.sh")
endif()
set(CMAKE_FIND_ROOT_PATH ${KOS_ARMHF_SYSROOT} /usr/arm-linux-gnueabihf /)
# Large files everywhere (off_t of 64 bits). time_t stays 32 bits: Debian
# 12's armhf libraries (libevent, OpenSSL) are built that way, and their
# ABI must match; the 2038 limit is theirs (docs/boards.md).
set(CMAKE_C_FLAGS_INIT "-D_FILE_OFFSET_BITS=64")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/arm-linux-gnueabihf/pkgconfig:/usr/share/pkgconfig)
