# Writes the bad files that the bad-input tests (docs/bad-input.md) hand to `leantrain`, at test
# time, so no binary fixture is committed:
#   short-images.idx.gz   Fashion-MNIST's test images, gzip'd, cut to 1,000 bytes (head -c)
#   short-images.idx      the same images un-gzip'd, cut to 5,000 bytes (zcat | head -c)
#   not-idx.idx           text: its first 4 bytes are not an IDX magic number
#   not-safetensors.safetensors   the same text, named as a weights file
#   five/                 a run directory of the cnn trained 1 step on synthetic 28x28x1 images
#                         of 5 classes (a model whose output has 5 units)
#   rgb/                  the same on synthetic 32x32x3 images of 10 classes (model.json and
#                         weights of another input shape than Fashion-MNIST's)
#   short.safetensors     five/weights/last.safetensors cut to 1,000 bytes
#   a-file                a regular file, for output paths that go through it
# Usage: cmake -DLEANTRAIN=<binary> -DFASHION_MNIST=<dir of the .gz files> -DOUT_DIR=<dir>
#              -P bad_input_files.cmake
cmake_minimum_required(VERSION 3.25)
foreach(var LEANTRAIN FASHION_MNIST OUT_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "pass -D${var}=...")
  endif()
endforeach()
file(REMOVE_RECURSE ${OUT_DIR})
file(MAKE_DIRECTORY ${OUT_DIR})

# Runs a command and fails the setup unless it exits 0.
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "'${ARGN}' exited with ${rc}: ${err}")
  endif()
endfunction()

set(images ${FASHION_MNIST}/t10k-images-idx3-ubyte.gz)
run(head -c 1000 ${images} OUTPUT_FILE ${OUT_DIR}/short-images.idx.gz)
execute_process(COMMAND zcat ${images} COMMAND head -c 5000
                OUTPUT_FILE ${OUT_DIR}/short-images.idx RESULT_VARIABLE rc)
file(SIZE ${OUT_DIR}/short-images.idx size)
if(NOT size EQUAL 5000)
  message(FATAL_ERROR "zcat ${images} | head -c 5000 wrote ${size} bytes")
endif()
file(WRITE ${OUT_DIR}/not-idx.idx "not an IDX file\n")
file(WRITE ${OUT_DIR}/not-safetensors.safetensors "not an IDX file\n")
file(WRITE ${OUT_DIR}/a-file "a regular file, not a directory\n")

foreach(run_spec "five;synthetic:28x28x1:5" "rgb;synthetic:32x32x3:10")
  list(GET run_spec 0 name)
  list(GET run_spec 1 data)
  run(${LEANTRAIN} train --model cnn --data ${data} --steps 1 --batch-size 8 --verbose 2
      --project ${OUT_DIR} --name ${name} OUTPUT_QUIET)
endforeach()
run(head -c 1000 ${OUT_DIR}/five/weights/last.safetensors
    OUTPUT_FILE ${OUT_DIR}/short.safetensors)
