# Warning and sanitizer flags for every target of the project, applied through quant_target_options().
add_library(quant_options INTERFACE)
target_compile_features(quant_options INTERFACE cxx_std_20)
target_compile_options(quant_options INTERFACE -Wall -Wextra -Wpedantic -Wshadow 
  -Wnon-virtual-dtor -Wimplicit-fallthrough)
if(QUANT_WERROR)
  target_compile_options(quant_options INTERFACE -Werror)
endif()
if(QUANT_CPU_BASELINE AND CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  target_compile_options(quant_options INTERFACE -march=${QUANT_CPU_BASELINE})
endif()
if(QUANT_SANITIZE)
  target_compile_options(quant_options INTERFACE -fsanitize=${QUANT_SANITIZE} -fno-omit-frame-pointer
    -fno-sanitize-recover=all)
  target_link_options(quant_options INTERFACE -fsanitize=${QUANT_SANITIZE})
endif()
find_package(Threads REQUIRED)
target_link_libraries(quant_options INTERFACE Threads::Threads)
