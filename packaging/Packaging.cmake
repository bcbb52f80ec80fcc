# The Debian package: `cmake --build build --target package` writes build/skyreels-studio_<version>_<arch>.deb
# (CPack DEB) with everything the install rules put under the prefix: skyreels-studio, skyreels-cli and
# skyreels-bench in bin/, the SentencePiece plug-in in lib/skyreels/, the demo model in
# share/skyreels-studio/demo-model/, the desktop entry and icon in share/applications/ and share/icons/.
# The installed binaries find the plug-in and the demo model beside themselves (<exe>/../lib/skyreels,
# <exe>/../share/skyreels-studio), so the package installs under /usr with no configuration.
#
# Depends is computed by dpkg-shlibdeps from the libraries the binaries and the plug-in link (Qt 6,
# FFmpeg, OpenCV, spdlog, SentencePiece, LibTorch...), so it names Debian's runtime packages. That needs
# Debian's own libraries: with a LibTorch that no Debian package owns (a CUDA LibTorch from a PyTorch
# installation) the package is skipped, and that build runs from its build tree. Included from the
# top-level CMakeLists.txt after every install rule's directory; sets SKYREELS_HAVE_PACKAGE.

set(SKYREELS_HAVE_PACKAGE OFF)
set(SKYREELS_PACKAGE_CONTACT "SkyReels Studio maintainers" CACHE STRING
    "Maintainer field of the .deb (\"Name <email>\")")

find_program(SKYREELS_DPKG_SHLIBDEPS dpkg-shlibdeps)
find_program(SKYREELS_DPKG_QUERY dpkg-query)
find_program(SKYREELS_FILE_PROGRAM file)
set(_torch_package "")
if(SKYREELS_DPKG_QUERY)
  # dpkg-query -S answers with "package:arch: path" for a file a Debian package installed.
  get_filename_component(_torch_real "${TORCH_LIBRARY}" REALPATH)
  execute_process(COMMAND ${SKYREELS_DPKG_QUERY} -S "${_torch_real}"
                  OUTPUT_VARIABLE _torch_owner RESULT_VARIABLE _torch_rc ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(_torch_rc EQUAL 0)
    string(REGEX REPLACE "[:,].*$" "" _torch_package "${_torch_owner}")
  endif()
endif()

if(NOT TARGET skyreels-studio)
  skyreels_skip("Debian package" "it carries the desktop app, which is not built")
elseif(NOT SKYREELS_HAVE_DEMO_MODEL)
  skyreels_skip("Debian package" "it carries the demo model, which is missing from resources/demo-model")
elseif(NOT SKYREELS_DPKG_SHLIBDEPS OR NOT SKYREELS_FILE_PROGRAM)
  skyreels_skip("Debian package" "dpkg-shlibdeps or file not found (Debian: dpkg-dev file)")
elseif(NOT _torch_package)
  skyreels_skip("Debian package" "LibTorch (${TORCH_LIBRARY}) is not from a Debian package, so the .deb could not depend on it")
else()
  set(SKYREELS_HAVE_PACKAGE ON)
  message(STATUS "SkyReels: Debian package enabled (LibTorch from ${_torch_package})")

  set(CPACK_GENERATOR DEB)
  set(CPACK_PACKAGE_NAME skyreels-studio)
  set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
  set(CPACK_PACKAGE_CONTACT "${SKYREELS_PACKAGE_CONTACT}")
  set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "SkyReels-V2 diffusion-forcing video generation: desktop app and command line")
  set(CPACK_PACKAGE_DESCRIPTION
      "SkyReels Studio generates long videos from text, a start image or a video to extend, with the\n"
      "SkyReels-V2 Diffusion-Forcing models (the Wan2.1 video DiT) on LibTorch.\n"
      "This package holds the desktop app (skyreels-studio), the command line (skyreels-cli), the\n"
      "engine benchmark (skyreels-bench) and a small embedded demo model trained on procedural videos\n"
      "(coloured shapes moving on plain backgrounds), so the whole flow runs on a CPU without a\n"
      "download. Real videos need a SkyReels-V2-DF checkpoint.")
  string(JOIN "" CPACK_PACKAGE_DESCRIPTION ${CPACK_PACKAGE_DESCRIPTION})
  set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
  set(CPACK_STRIP_FILES ON)
  set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
  set(CPACK_DEBIAN_PACKAGE_SECTION video)
  set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
  # LibTorch links libblas.so.3; the reference BLAS that satisfies it alone is ~10x slower (install-deps.sh).
  set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "libopenblas0-openmp | libopenblas0")
  set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
  # Only the .deb: no source archive of the tree (it would hold the build folder).
  set(CPACK_SOURCE_GENERATOR "")
  include(CPack)
endif()
