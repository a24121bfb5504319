# Runs a command and checks both what a CTest PASS_REGULAR_EXPRESSION checks (its output matches
# a regular expression) and what it ignores (the exit code: 0, or non-zero with -DFAILS=ON, when
# the output checked is the error message on stderr; -DEXIT_CODE=N asks for exactly N).
# -DEXIT_CODES=<a;b;...> accepts any of the codes listed and checks stdout and stderr together:
# for a command whose outcome the test cannot decide, only that it reports it.
# Usage: cmake -DCOMMAND=<program;args...> -DEXPECT=<regex>
#              [-DFAILS=ON [-DEXIT_CODE=N] | -DEXIT_CODES=<a;b;...>] -P expect_output.cmake
# An empty element of COMMAND is passed on as an empty argument (`--project;` is --project "").
cmake_minimum_required(VERSION 3.25)
foreach(var COMMAND EXPECT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "pass -D${var}=...")
  endif()
endforeach()
if(DEFINED EXIT_CODE AND NOT EXIT_CODE MATCHES "^[0-9]+$")
  message(FATAL_ERROR "-DEXIT_CODE must be a number, got '${EXIT_CODE}'")
endif()
foreach(code IN LISTS EXIT_CODES)
  if(NOT code MATCHES "^[0-9]+$")
    message(FATAL_ERROR "-DEXIT_CODES must list numbers, got '${EXIT_CODES}'")
  endif()
endforeach()
if(DEFINED EXIT_CODES AND (FAILS OR DEFINED EXIT_CODE))
  message(FATAL_ERROR "-DEXIT_CODES replaces -DFAILS and -DEXIT_CODE: pass one or the other")
endif()
if(DEFINED EXIT_CODE AND NOT FAILS AND NOT EXIT_CODE EQUAL 0)
  message(FATAL_ERROR "-DEXIT_CODE=${EXIT_CODE} is a failure: pass -DFAILS=ON too")
endif()
# execute_process(COMMAND ${COMMAND}) would drop empty elements: each element bracket-quoted.
set(arguments "")
foreach(arg IN LISTS COMMAND)
  string(APPEND arguments " [==[${arg}]==]")
endforeach()
cmake_language(EVAL CODE "execute_process(COMMAND ${arguments}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)")
message("${out}${err}")
if(NOT rc MATCHES "^[0-9]+$")  # killed by a signal: "Child aborted", "Segmentation fault", ...
  message(FATAL_ERROR "'${COMMAND}' did not exit: ${rc}")
endif()
if(DEFINED EXIT_CODES)
  if(NOT rc IN_LIST EXIT_CODES)
    message(FATAL_ERROR "'${COMMAND}' exited with ${rc}; expected one of ${EXIT_CODES}")
  endif()
  set(out "${out}${err}")
elseif(FAILS)
  if(rc EQUAL 0)
    message(FATAL_ERROR "'${COMMAND}' succeeded; it should have failed")
  endif()
  if(DEFINED EXIT_CODE AND NOT rc EQUAL EXIT_CODE)
    message(FATAL_ERROR "'${COMMAND}' exited with ${rc}; expected ${EXIT_CODE}")
  endif()
  set(out "${err}")
elseif(NOT rc EQUAL 0)
  message(FATAL_ERROR "'${COMMAND}' exited with ${rc}")
endif()
if(NOT out MATCHES "${EXPECT}")
  message(FATAL_ERROR "'${COMMAND}': the output does not match '${EXPECT}'")
endif()
