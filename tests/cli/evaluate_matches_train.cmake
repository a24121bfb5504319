# Trains a model for one short epoch, then checks that `leantrain evaluate` of the saved weights
# on the same held-out data prints the loss and accuracy that train printed for it (evaluation
# is deterministic: the same numbers, to the digits printed), and the predicted peak memory
# before its first batch. Leaves the model in <OUT_DIR>/<NAME>/weights/last.safetensors.
# Usage: cmake -DLEANTRAIN=<binary> -DOUT_DIR=<dir> -DNAME=<run name> -DDATA=<flags;...>
#              -DTRAIN=<train-only flags;...> -DHELD_OUT=<Test|Validation>
#              -P evaluate_matches_train.cmake
cmake_minimum_required(VERSION 3.25)
foreach(var LEANTRAIN OUT_DIR NAME DATA TRAIN HELD_OUT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "pass -D${var}=...")
  endif()
endforeach()
file(REMOVE_RECURSE ${OUT_DIR}/${NAME})
file(MAKE_DIRECTORY ${OUT_DIR})

execute_process(
  COMMAND ${LEANTRAIN} train --model cnn ${DATA} ${TRAIN} --verbose 2 --project ${OUT_DIR}
          --name ${NAME}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "leantrain train exited with ${rc}")
endif()
if(NOT out MATCHES "${HELD_OUT} accuracy: ([0-9.]+) \\(loss ([0-9.]+)\\)")
  message(FATAL_ERROR "train printed no '${HELD_OUT} accuracy: A (loss L)' line")
endif()
set(train_accuracy ${CMAKE_MATCH_1})
set(train_loss ${CMAKE_MATCH_2})
set(model ${OUT_DIR}/${NAME}/weights/last.safetensors)
if(NOT EXISTS ${model})
  message(FATAL_ERROR "train wrote no ${model}")
endif()

execute_process(COMMAND ${LEANTRAIN} evaluate --model ${model} ${DATA}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "leantrain evaluate exited with ${rc}")
endif()
if(NOT out MATCHES "Predicted peak memory: [0-9.]+ [KMG]?i?B \\(persistent .*\nloss: ([0-9.]+) - accuracy: ([0-9.]+)\n[0-9]+ images in .* images/s\\); peak memory: predicted")
  message(FATAL_ERROR "evaluate printed no plan, 'loss: L - accuracy: A' line, speed and memory")
endif()
set(loss ${CMAKE_MATCH_1})
set(accuracy ${CMAKE_MATCH_2})
if(NOT loss STREQUAL train_loss OR NOT accuracy STREQUAL train_accuracy)
  message(FATAL_ERROR "evaluate printed loss ${loss}, accuracy ${accuracy}; train printed loss "
                      "${train_loss}, accuracy ${train_accuracy} for the same data")
endif()
message("evaluate matches train: loss ${loss}, accuracy ${accuracy}")
