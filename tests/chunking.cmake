# chunking.cmake: a workspace chooses how its documents are cut into chunks
# (tests/test_chunking.py, one ctest per behaviour, over the HTTP edge).
# Included from tests/CMakeLists.txt.
foreach(name workspace_shows_server_chunking workspace_chunking_cuts_later_documents
             workspace_chunking_refusals workspace_chunking_is_per_workspace)
  add_test(NAME chunking_${name} COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/test_chunking.py
           test_${name})
  set_tests_properties(chunking_${name} PROPERTIES TIMEOUT 180 SKIP_RETURN_CODE 77
                       ENVIRONMENT "SLUICED=$<TARGET_FILE:sluiced>")
endforeach()
