# Asio, Asio's SSL layer and Beast are header-only by default, which means every translation
# unit that touches them recompiles the same tens of thousands of lines (35-50 s each on two
# cores). engram_boost_compiled compiles them exactly once; the *_SEPARATE_COMPILATION
# definitions are PUBLIC so every user of our libraries sees the declarations-only headers.
add_library(engram_boost_compiled STATIC
  ${PROJECT_SOURCE_DIR}/net/src/compiled/asio.cpp
  ${PROJECT_SOURCE_DIR}/net/src/compiled/asio_ssl.cpp
  ${PROJECT_SOURCE_DIR}/net/src/compiled/beast.cpp)
add_library(engram::boost_compiled ALIAS engram_boost_compiled)
set_target_properties(engram_boost_compiled PROPERTIES EXPORT_NAME boost_compiled POSITION_INDEPENDENT_CODE ON)
target_compile_definitions(engram_boost_compiled PUBLIC
  BOOST_ASIO_SEPARATE_COMPILATION
  BOOST_BEAST_SEPARATE_COMPILATION
  BOOST_ASIO_NO_DEPRECATED
  BOOST_ASIO_DISABLE_BOOST_COROUTINE
  # Asio keeps 2 freed blocks per thread for reuse (coroutine frames, handlers). A stream's
  # delta goes through about four coroutine frames of different sizes, so with 2 the cache
  # missed and allocated fresh frames for every delta; 16 lets them all be reused (measured
  # with bench/tools/malloc_count.c). It changes a thread's Asio bookkeeping, so it is PUBLIC:
  # everything built against these objects must see the same value.
  BOOST_ASIO_RECYCLING_ALLOCATOR_CACHE_SIZE=16)
target_compile_features(engram_boost_compiled PUBLIC cxx_std_20)
target_link_libraries(engram_boost_compiled
  PUBLIC Boost::headers OpenSSL::SSL OpenSSL::Crypto Threads::Threads
  PRIVATE $<BUILD_INTERFACE:engram_options>)
# GCC 12 reports -Wmaybe-uninitialized false positives inside Beast's parser (boost::optional)
# once sanitizers change inlining; it is third-party code we compile, not ours to fix.
target_compile_options(engram_boost_compiled PRIVATE -Wno-maybe-uninitialized)
if(ENGRAM_SANITIZER_FLAGS)
  # Sanitized objects need the sanitizer runtime at link time, also in a consumer's link.
  target_link_options(engram_boost_compiled INTERFACE ${ENGRAM_SANITIZER_FLAGS})
endif()
