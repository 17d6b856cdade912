# jobctl.cmake: job control over HTTP (tests/test_jobctl.py, one ctest per
# behaviour): cancel (midway through a long parse, with parse as its own
# process, at a stage boundary, across workspaces, of a finished job),
# retry, pause and resume (also across a restart), reprocess from chunk. Included from
# tests/CMakeLists.txt.
set(SL_JOBCTL_ENV "SLUICED=$<TARGET_FILE:sluiced>")
if(TARGET sluice)
  list(APPEND SL_JOBCTL_ENV "SLUICE_CLI=$<TARGET_FILE:sluice>")
endif()
foreach(name cancel_running_parse cancel_with_stages_as_processes cancel_waiting_fetch_drops_at_boundary
             cancel_across_workspaces_refused cancel_finished_job_409 retry_failed_job_completes
             retry_cancelled_job_completes retry_supersedes_the_cancelled_run
             pause_holds_then_resume_completes pause_survives_restart
             python_client_job_control cli_job_control reprocess_from_chunk_recuts_without_parse
             reprocess_redriven_goes_the_long_way reprocess_held_while_paused
             reprocess_from_embed_keeps_chunks)
  add_test(NAME jobctl_${name} COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/test_jobctl.py test_${name})
  set_tests_properties(jobctl_${name} PROPERTIES TIMEOUT 240 SKIP_RETURN_CODE 77
                       ENVIRONMENT "${SL_JOBCTL_ENV}")
endforeach()
