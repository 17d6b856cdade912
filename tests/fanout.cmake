# fanout.cmake: a long PDF parsed in page ranges by every parse process,
# joined in page order, committed once; a long document embedded in parts (tests/test_fanout.py, one ctest per
# behaviour, real processes). Included from tests/CMakeLists.txt.
foreach(name fanout_same_chunks_as_whole_parse fanout_two_parse_processes_share_ranges
             fanout_killed_parse_range_redelivered fanout_progress_counts_pages_across_ranges
             fanout_small_pdf_not_split fanout_scanned_pages_read_by_ocr
             embed_parts_same_vectors_as_whole embed_parts_progress_counts_chunks_across_parts
             embed_part_killed_redelivered)
  add_test(NAME ${name} COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/test_fanout.py test_${name})
  set_tests_properties(${name} PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77
                       ENVIRONMENT "SLUICED=$<TARGET_FILE:sluiced>")
endforeach()
