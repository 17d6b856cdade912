# web.cmake: browser tests of the page the edge serves at / (tests/web/).
# Debian's chromium driven by playwright-core (npm, pinned by
# tests/web/package-lock.json); each behaviour is its own ctest, against its
# own real sluiced. web_npm_ci installs playwright-core once, as a fixture, so
# parallel tests never run npm at the same time. Without /usr/bin/chromium or
# npm the tests skip (exit 77). Screenshots land in <build>/web-screenshots.
# Included from tests/CMakeLists.txt.
set(SL_WEB_RUN ${CMAKE_CURRENT_LIST_DIR}/web/run.sh)
set(SL_WEB_ENV "SLUICED=$<TARGET_FILE:sluiced>;SLUICE_WEB_SHOTS=${CMAKE_BINARY_DIR}/web-screenshots")
add_test(NAME web_npm_ci COMMAND bash ${SL_WEB_RUN} --install)
set_tests_properties(web_npm_ci PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77 FIXTURES_SETUP sl_web)
foreach(name upload_two_pdfs_search_delete failing_file_shows_reason restart_mid_ingest
             restart_edge_before_broker many_at_once api_key
             keyboard_phone_and_steady_layout rows_in_every_state scan_shows_ocr_stage
             hit_opens_its_page hit_opens_its_page_with_key
             upload_with_attributes_then_filter bad_filter_says_why library_shows_attributes
             retag_from_library upload_resumes_after_dropped_connection cancel_then_retry_buttons
             pause_resume_and_rechunk
             sources_panel)
  add_test(NAME web_${name} COMMAND bash ${SL_WEB_RUN} test_${name})
  set_tests_properties(web_${name} PROPERTIES TIMEOUT 240 SKIP_RETURN_CODE 77 FIXTURES_REQUIRED sl_web
                       ENVIRONMENT "${SL_WEB_ENV}")
endforeach()
