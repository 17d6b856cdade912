# deletion.cmake: deletion as a service of its own (tests/test_deletion.py,
# one ctest per behaviour): 202 and hidden from that moment, across
# workspaces refused, a shared blob kept, many deletions while searching,
# kill -9 mid-deletion, a failing deletion dead-lettered and replayed.
# Included from tests/CMakeLists.txt.
foreach(name delete_202_hidden_at_once same_bytes_while_deleting_wait cross_workspace_delete_refused
             shared_blob_survives_one_deletion many_deletions_while_searching
             folder_source_removed_through_delete_service
             kill9_mid_deletion_completes failing_deletion_dead_letters_and_replays)
  add_test(NAME deletion_${name} COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/test_deletion.py test_${name})
  set_tests_properties(deletion_${name} PROPERTIES TIMEOUT 600 SKIP_RETURN_CODE 77
                       ENVIRONMENT "SLUICED=$<TARGET_FILE:sluiced>")
endforeach()
