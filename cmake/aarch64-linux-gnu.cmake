# Cross build for 64-bit ARM (aarch64) Linux with Debian's cross compiler; the tests run under
# qemu-user. scripts/deps_aarch64.sh installs everything this needs:
#   gcc-aarch64-linux-gnu          the compiler; its C library lives in /usr/aarch64-linux-gnu
#   libcjson-dev:arm64 ...         r1c's libraries from Debian's multiarch arm64 packages, in
#                                  /usr/lib/aarch64-linux-gnu (headers in /usr/include)
#   qemu-user                      qemu-aarch64, which CTest puts in front of every test binary
# Use: cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

# Libraries and headers: the cross compiler's own tree first, then the host's multiarch
# arm64 directories (/usr/lib/aarch64-linux-gnu through CMAKE_LIBRARY_ARCHITECTURE). Only
# re-rooted paths are searched, so x86-64 libraries are never picked up; the host's programs
# (cmake, bash) are used as they are.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu /)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# CTest runs target executables through this. -L: the aarch64 dynamic loader and C library of
# the cross toolchain; qemu falls back to the host path for the multiarch libraries in
# /usr/lib/aarch64-linux-gnu, which the loader is told about explicitly.
set(CMAKE_CROSSCOMPILING_EMULATOR
    "qemu-aarch64;-L;/usr/aarch64-linux-gnu;-E;LD_LIBRARY_PATH=/usr/aarch64-linux-gnu/lib:/usr/lib/aarch64-linux-gnu")
