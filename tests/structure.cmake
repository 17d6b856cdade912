# structure.cmake: sections and tables carried from documents into chunks
# and hits (tests/test_structure.py, one ctest per behaviour). Included
# from tests/CMakeLists.txt.
sl_pytest(test_structure.py structure
  html_sections_in_hits table_chunks_hold_whole_rows section_context_finds_paraphrase
  markdown_code_comment_not_heading pdf_outline_sections_in_hits)
# the web page's hit display (tests/web/test_web.mjs; chromium, skips without it)
if(DEFINED SL_WEB_RUN)
  add_test(NAME web_hit_section_and_badges COMMAND bash ${SL_WEB_RUN} test_hit_section_and_badges)
  set_tests_properties(web_hit_section_and_badges PROPERTIES TIMEOUT 240 SKIP_RETURN_CODE 77
                       FIXTURES_REQUIRED sl_web ENVIRONMENT "${SL_WEB_ENV}")
endif()
