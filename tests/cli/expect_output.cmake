# Runs a command and checks both what a CTest PASS_REGULAR_EXPRESSION checks (its output matches
# a regular expression) and what it ignores (the exit code: 0, or non-zero with -DFAILS=ON, when
# the output checked is the error message on stderr).
# Usage: cmake -DCOMMAND=<program;args...> -DEXPECT=<regex> [-DFAILS=ON] -P expect_output.cmake
cmake_minimum_required(VERSION 3.25)
foreach(var COMMAND EXPECT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "pass -D${var}=...")
  endif()
endforeach()
execute_process(COMMAND ${COMMAND} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(FAILS)
  if(rc EQUAL 0)
    message(FATAL_ERROR "'${COMMAND}' succeeded; it should have failed")
  endif()
  set(out "${err}")
elseif(NOT rc EQUAL 0)
  message(FATAL_ERROR "'${COMMAND}' exited with ${rc}")
endif()
if(NOT out MATCHES "${EXPECT}")
  message(FATAL_ERROR "'${COMMAND}': the output does not match '${EXPECT}'")
endif()
