# sources.cmake: registered sources kept in sync (tests/test_sources.py, one
# ctest per behaviour): a folder changed between syncs (stage counters prove
# what was not fetched or parsed), a local site with ETags and a sitemap
# index, a URL list, a crawl (limits, robots.txt), a schedule firing, two nodes sharing a store, a node
# killed mid-sync, refusals. Included from tests/CMakeLists.txt.
sl_pytest(test_sources.py sources
  folder_sync_tracks_changes site_resync_conditional urls_source_conditional schedule_fires_by_itself
  two_nodes_never_overlap killed_node_run_taken_over killed_node_run_taken_over_postgres refusals_say_why python_client_sources
  crawl_limits_and_robots)
if(TARGET sluice)
  sl_pytest(test_sources.py sources cli_sources_and_sync)
  set_tests_properties(sources_cli_sources_and_sync PROPERTIES
    ENVIRONMENT "SLUICED=$<TARGET_FILE:sluiced>;SLUICE_CLI=$<TARGET_FILE:sluice>")
endif()
