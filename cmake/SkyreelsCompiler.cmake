# Compiler set-up shared by every target: ccache, warnings, precompiled LibTorch headers,
# and a registry of optional targets that configure skipped.

if(SKYREELS_USE_CCACHE)
  find_program(SKYREELS_CCACHE ccache)
  if(SKYREELS_CCACHE)
    # Precompiled headers need these sloppiness flags or ccache never hits.
    set(CMAKE_CXX_COMPILER_LAUNCHER
        ${CMAKE_COMMAND} -E env
        "CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime"
        ${SKYREELS_CCACHE})
    message(STATUS "SkyReels: using ccache (${SKYREELS_CCACHE})")
  endif()
endif()

# AddressSanitizer + UndefinedBehaviorSanitizer over everything built here (LibTorch itself is not
# instrumented). README, "Sanitizers", says how to run the suite with it.
option(SKYREELS_SANITIZE "Build with -fsanitize=address,undefined" OFF)
if(SKYREELS_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize=vptr -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
  message(STATUS "SkyReels: AddressSanitizer and UndefinedBehaviorSanitizer on")
endif()

# Warnings for our own targets only (LibTorch headers are system includes).
function(skyreels_warnings target)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter)
  endif()
endfunction()

# LibTorch's umbrella header costs ~20 s per translation unit; compile it once per target.
function(skyreels_torch_pch target)
  target_precompile_headers(${target} PRIVATE <torch/torch.h>)
endfunction()

# Record an optional part that is not built, so configure prints one summary.
function(skyreels_skip what why)
  set_property(GLOBAL APPEND PROPERTY SKYREELS_SKIPPED "${what}: ${why}")
endfunction()

function(skyreels_print_skipped)
  get_property(_skipped GLOBAL PROPERTY SKYREELS_SKIPPED)
  if(_skipped)
    list(JOIN _skipped "\n  - " _text)
    message(STATUS "SkyReels: skipped (dependencies missing or disabled):\n  - ${_text}")
  else()
    message(STATUS "SkyReels: all optional targets enabled")
  endif()
endfunction()
