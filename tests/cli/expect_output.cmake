# Runs a command and checks both what a CTest PASS_REGULAR_EXPRESSION checks (its output matches
# a regular expression) and what it ignores (the command exits with 0).
# Usage: cmake -DCOMMAND=<program;args...> -DEXPECT=<regex> -P expect_output.cmake
cmake_minimum_required(VERSION 3.25)
foreach(var COMMAND EXPECT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "pass -D${var}=...")
  endif()
endforeach()
execute_process(COMMAND ${COMMAND} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "'${COMMAND}' exited with ${rc}:\n${err}")
endif()
if(NOT out MATCHES "${EXPECT}")
  message(FATAL_ERROR "'${COMMAND}': the output does not match '${EXPECT}'")
endif()
