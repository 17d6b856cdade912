# tus.cmake: resumable uploads over HTTP (tests/test_tus.py, one ctest per
# behaviour): tus 1.0 at /v1/uploads on a real sluiced, bytes sent in pieces,
# connections dropped mid-body, checksums, workspaces, a second edge process
# continuing an upload, the collector removing abandoned ones, and the CLI
# resuming through a proxy that cuts its connection. Included from
# tests/CMakeLists.txt.
sl_pytest(test_tus.py tus
  options_advertise_the_protocol upload_in_pieces_is_ingested resume_after_dropped_connection
  wrong_offset_is_409 checksum_checked terminate_removes_upload upload_is_the_workspace_s refusals_say_why
  attributes_from_metadata second_edge_continues_upload abandoned_upload_collected concurrent_patch_is_423
  big_upload_cut_three_times_two_edges
  cli_resumes_interrupted_upload cli_resumes_after_restart)
