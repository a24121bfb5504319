# Runs one command twice, with two settings that must not change the results (e.g. the number of
# decoding threads), and checks that both print the same figures: every "loss: X", "accuracy: X"
# (val_ ones included) and final "... accuracy: X" line, in order; timings and run directories
# may differ. Fails when either run fails or prints no figure.
# Usage: cmake -DCOMMAND=<program;args...> -DFIRST=<args...> -DSECOND=<args...>
#              -P same_figures.cmake
# An empty element of COMMAND is passed on as an empty argument (`--project;` is --project "").
cmake_minimum_required(VERSION 3.25)
foreach(var COMMAND FIRST SECOND)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "pass -D${var}=...")
  endif()
endforeach()
function(figures_of extra result)
  set(arguments "")
  foreach(arg IN LISTS COMMAND extra)
    string(APPEND arguments " [==[${arg}]==]")
  endforeach()
  cmake_language(EVAL CODE "execute_process(COMMAND ${arguments}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)")
  message("${out}${err}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "'${COMMAND};${extra}' exited with ${rc}")
  endif()
  string(REGEX MATCHALL "(loss|accuracy): [0-9.e+-]+" found "${out}")
  if(NOT found)
    message(FATAL_ERROR "'${COMMAND};${extra}' printed no loss or accuracy")
  endif()
  set(${result} "${found}" PARENT_SCOPE)
endfunction()
figures_of("${FIRST}" first)
figures_of("${SECOND}" second)
if(NOT first STREQUAL second)
  message(FATAL_ERROR "the figures differ:\n  ${FIRST}: ${first}\n  ${SECOND}: ${second}")
endif()
list(LENGTH first count)
message("The same ${count} figures with ${FIRST} and with ${SECOND}")
