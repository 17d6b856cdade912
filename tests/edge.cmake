# edge.cmake: tests of the HTTP edge (tests/test_edge.py, one ctest per
# behaviour) and of the `sluice` CLI (tests/test_cli.sh), against real
# sluiced processes on loopback. Included from tests/CMakeLists.txt.
set(SL_EDGE_ENV "SLUICED=$<TARGET_FILE:sluiced>")
foreach(name health_ready_metrics_openapi ingest_url_follow_documents_search_delete
             sse_reconnect_exactly_once sse_heartbeat_and_stalled_job sse_replay_equals_live
             upload_pdf_then_search_page
             multipart_many_files_and_refusals error_codes workspaces_are_separate backpressure_429
             two_edges_one_broker open_mode_refuses_public_bind dlq_list_and_replay
             slow_client_timeout drain_with_open_stream cors_for_browsers
             browser_cross_origin_post_refused browser_cross_site_fetch_metadata_refused
             browser_same_origin_allowed browser_foreign_host_refused browser_rebinding_get_refused
             query_key_only_for_events_and_not_logged thousand_parts_with_few_descriptors
             descriptor_exhaustion_is_503 upload_names_keep_relative_paths non_utf8_name_refused_no_blob
             url_scheme_any_case last_event_id_out_of_range offset_out_of_range delete_hides_blob_removed
             status_and_metrics_scoped_by_key)
  add_test(NAME edge_${name} COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/test_edge.py test_${name})
  set_tests_properties(edge_${name} PROPERTIES TIMEOUT 180 SKIP_RETURN_CODE 77 ENVIRONMENT "${SL_EDGE_ENV}")
endforeach()
if(TARGET sluice)
  add_test(NAME cli_end_to_end COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/test_cli.sh)
  set_tests_properties(cli_end_to_end PROPERTIES TIMEOUT 300
    ENVIRONMENT "${SL_EDGE_ENV};SLUICE_CLI=$<TARGET_FILE:sluice>")
endif()
