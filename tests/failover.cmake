# failover.cmake: a primary and a backup broker (Binary Star) with real
# processes on loopback (tests/test_failover.py, one ctest per behaviour).
# Included from tests/CMakeLists.txt.
foreach(name failover_primary_killed_under_load failover_passive_refuses_work
             failover_no_split_brain_without_clients failover_silent_peer_and_dual_active
             failover_python_client_moves_to_the_active_broker)
  add_test(NAME ${name} COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/test_failover.py test_${name})
  set_tests_properties(${name} PROPERTIES TIMEOUT 600 SKIP_RETURN_CODE 77
                       ENVIRONMENT "SLUICED=$<TARGET_FILE:sluiced>")
endforeach()
