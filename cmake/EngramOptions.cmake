# engram_options: the warning, -Werror and sanitizer flags every engram target builds with.
# It is linked as a BUILD_INTERFACE only, so installed packages never force our warning
# flags on a consumer; the sanitizer flags are recorded in the exported targets instead
# (see engram_sanitizer_flags) because a sanitized static library cannot link without them.
add_library(engram_options INTERFACE)
target_compile_options(engram_options INTERFACE -Wall -Wextra -Wpedantic)
if(ENGRAM_WERROR)
  target_compile_options(engram_options INTERFACE -Werror)
endif()

set(ENGRAM_SANITIZER_FLAGS "")
if(ENGRAM_SANITIZE)
  set(ENGRAM_SANITIZER_FLAGS -fsanitize=${ENGRAM_SANITIZE} -fno-omit-frame-pointer)
  if(ENGRAM_SANITIZE MATCHES "thread")
    # GCC 12 warns (-Wtsan) that TSan cannot model the std::atomic_thread_fence Asio uses;
    # the warning is about Asio's headers, not our code, and would stop a -Werror build.
    target_compile_options(engram_options INTERFACE -Wno-tsan)
  endif()
  if(ENGRAM_SANITIZE MATCHES "undefined")
    list(APPEND ENGRAM_SANITIZER_FLAGS -fno-sanitize-recover=undefined)
  endif()
  target_compile_options(engram_options INTERFACE ${ENGRAM_SANITIZER_FLAGS})
  target_link_options(engram_options INTERFACE ${ENGRAM_SANITIZER_FLAGS})
endif()

# engram_add_module(NAME SOURCES...): a static module library engram_NAME with alias
# engram::NAME, public headers under NAME/include and private ones under NAME/src.
function(engram_add_module name)
  add_library(engram_${name} STATIC ${ARGN})
  add_library(engram::${name} ALIAS engram_${name})
  set_target_properties(engram_${name} PROPERTIES EXPORT_NAME ${name} POSITION_INDEPENDENT_CODE ON)
  target_include_directories(engram_${name}
    PUBLIC $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include> $<INSTALL_INTERFACE:include>
    PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_compile_features(engram_${name} PUBLIC cxx_std_20)
  target_link_libraries(engram_${name} PRIVATE $<BUILD_INTERFACE:engram_options>)
endfunction()
