# bindings.cmake: tests of the client bindings (tests/test_bindings.py, one
# ctest per behaviour) against real sluiced processes on loopback: the C
# library (through bindings/c/test_sluice_client and the C example), the
# Python package (from the source tree, /usr/bin/python3), the upload
# service, and an install of libsluice consumed by pkg-config and CMake.
# Included from bindings/CMakeLists.txt; a second include is a no-op.
get_property(sl_bindings_tests GLOBAL PROPERTY SL_BINDINGS_TESTS)
if(sl_bindings_tests)
  return()
endif()
set_property(GLOBAL PROPERTY SL_BINDINGS_TESTS ON)

set(SL_BINDINGS_ENV
  "SLUICED=$<TARGET_FILE:sluiced>"
  "SLUICE_TEST_CLIENT=$<TARGET_FILE:test_sluice_client>"
  "SLUICE_EXAMPLE_C=$<TARGET_FILE:sluice_ingest_folder>"
  "PYTHONPATH=${PROJECT_SOURCE_DIR}/bindings/python")
foreach(name c_client_end_to_end python_client_end_to_end upload_protocol busy_then_retry_c
             busy_then_retry_python watch_fills_gaps_and_silence
             killed_mid_upload_leaves_nothing wrong_curve_key_refused
             curve_key_accepted many_python_clients examples_c_and_python)
  add_test(NAME bindings_${name} COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/test_bindings.py test_${name})
  set_tests_properties(bindings_${name} PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77
    ENVIRONMENT "${SL_BINDINGS_ENV}")
endforeach()

# Install libsluice into a temporary prefix and build consumers against it
# with pkg-config and with find_package(Sluice), then the Python wheel. Not
# in sanitizer builds: an ASan library cannot be loaded by a plain program.
if(NOT SLUICE_SANITIZE AND NOT SLUICE_FUZZ)
  add_test(NAME bindings_install_pkgconfig_cmake
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_bindings_install.sh ${CMAKE_BINARY_DIR} ${PROJECT_SOURCE_DIR})
  set_tests_properties(bindings_install_pkgconfig_cmake PROPERTIES TIMEOUT 300)
endif()
