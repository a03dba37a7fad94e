# Install rules and the CMake package: find_package(engram) gives engram::net (and every other
# module library that exists), with Boost, OpenSSL and Threads found for the consumer.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(ENGRAM_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/engram)
set(engram_installed_targets engram_boost_compiled)
foreach(module net memory runtime agents)
  if(TARGET engram_${module})
    list(APPEND engram_installed_targets engram_${module})
    install(DIRECTORY ${PROJECT_SOURCE_DIR}/${module}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  endif()
endforeach()

install(TARGETS ${engram_installed_targets}
  EXPORT engramTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT engramTargets NAMESPACE engram:: DESTINATION ${ENGRAM_INSTALL_CMAKEDIR})

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/engramConfig.cmake.in
  ${PROJECT_BINARY_DIR}/engramConfig.cmake INSTALL_DESTINATION ${ENGRAM_INSTALL_CMAKEDIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/engramConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/engramConfig.cmake ${PROJECT_BINARY_DIR}/engramConfigVersion.cmake
  DESTINATION ${ENGRAM_INSTALL_CMAKEDIR})
