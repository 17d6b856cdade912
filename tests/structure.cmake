# structure.cmake: sections and tables carried from documents into chunks
# and hits (tests/test_structure.py, one ctest per behaviour). Included
# from tests/CMakeLists.txt.
sl_pytest(test_structure.py structure
  html_sections_in_hits table_chunks_hold_whole_rows section_context_finds_paraphrase
  markdown_code_comment_not_heading)
