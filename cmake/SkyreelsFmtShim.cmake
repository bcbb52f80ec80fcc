# LibTorch 2.x ships its own fmt headers (fmt 12 in PyTorch 2.11) in its include folder, which the
# compiler searches before /usr/include. spdlog from the system is built against the system's fmt,
# so any file that includes spdlog would see the wrong fmt. LibTorch's public headers (torch/torch.h)
# do not include fmt, so putting a folder that holds only the system's fmt first is safe.

set(_torch_has_fmt OFF)
foreach(_dir ${TORCH_INCLUDE_DIRS})
  # Only a bundled copy counts (Debian's LibTorch lives in /usr/include beside the system fmt).
  if(NOT _dir MATCHES "^/usr(/local)?/include/?$" AND (EXISTS "${_dir}/fmt/core.h" OR EXISTS "${_dir}/fmt/base.h"))
    set(_torch_has_fmt ON)
  endif()
endforeach()

if(_torch_has_fmt AND TARGET fmt::fmt)
  get_target_property(_fmt_hints fmt::fmt INTERFACE_INCLUDE_DIRECTORIES)
  if(NOT _fmt_hints)
    set(_fmt_hints "")
  endif()
  find_path(SKYREELS_SYSTEM_FMT_DIR fmt/core.h HINTS ${_fmt_hints} PATHS /usr/include /usr/local/include
            NO_CMAKE_PATH NO_CMAKE_ENVIRONMENT_PATH)
  if(SKYREELS_SYSTEM_FMT_DIR)
    set(_shim "${CMAKE_BINARY_DIR}/fmt-shim")
    file(MAKE_DIRECTORY "${_shim}")
    file(CREATE_LINK "${SKYREELS_SYSTEM_FMT_DIR}/fmt" "${_shim}/fmt" SYMBOLIC)
    include_directories(BEFORE SYSTEM "${_shim}")
    message(STATUS "SkyReels: LibTorch bundles its own fmt; using the system fmt in ${SKYREELS_SYSTEM_FMT_DIR} for spdlog")
  endif()
endif()
