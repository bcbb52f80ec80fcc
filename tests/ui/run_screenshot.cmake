# ctest -P script: runs skyreels-studio --screenshot under xvfb-run on a 1366 × 768 screen (a laptop's;
# a short demo generation: 9 frames, 3 steps). A PNG from an earlier run is removed first, so only this run's picture can pass the check
# that follows (screenshotIsNotBlank).
#   -DXVFB_RUN=... -DSTUDIO=... -DSHOT=...

file(REMOVE ${SHOT})
execute_process(
  COMMAND ${XVFB_RUN} -a -s "-screen 0 1366x768x24" ${STUDIO} --screenshot ${SHOT} --frames 9 --steps 3
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "skyreels-studio --screenshot exited with ${rc}")
endif()
if(NOT EXISTS ${SHOT})
  message(FATAL_ERROR "skyreels-studio --screenshot wrote no ${SHOT}")
endif()
message(STATUS "screenshot: ${SHOT}")
