# filters.cmake: document attributes (meta) on ingest, re-tagging, and
# search filters over real HTTP (tests/test_filters.py, one ctest per
# behaviour; the PostgreSQL case skips where PostgreSQL is not installed).
# Included from tests/CMakeLists.txt.
sl_pytest(test_filters.py filters
  filtered_search_hybrid filtered_search_vector filtered_search_lexical
  get_search_takes_filter_args documents_show_meta json_url_ingest_with_meta
  retag_patch_changes_results retag_put_replaces reingest_keeps_or_replaces_meta
  bad_meta_refused bad_filter_refused retag_refused postgres_end_to_end python_client)
# the CLI's --meta, --filter and tag, against the sluice binary built here
sl_pytest(test_filters.py filters cli_meta_and_filter)
set_property(TEST filters_cli_meta_and_filter APPEND PROPERTY ENVIRONMENT "SLUICE_CLI=$<TARGET_FILE:sluice>")
# libsluice (bindings/c) through ctypes: meta on ingest, filters, re-tag.
# Not in sanitizer builds: an ASan library cannot be loaded into a plain
# python (bindings.cmake says the same); the C client's code is run under
# the sanitizers by bindings_c_client_end_to_end, a C program
if(NOT SLUICE_SANITIZE AND NOT SLUICE_FUZZ)
  sl_pytest(test_filters.py filters c_client)
  set_property(TEST filters_c_client APPEND PROPERTY ENVIRONMENT "SLUICE_LIB=$<TARGET_FILE:sluice_lib>")
endif()
