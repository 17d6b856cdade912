# ann.cmake: the approximate vector index (an HNSW graph) end to end
# (tests/test_ann.py, one ctest per behaviour): searches through the graph
# equal exact ones, a deleted document never returns, a restart reuses the
# graph file, a truncated file is rebuilt, bad settings are refused.
# Included from tests/CMakeLists.txt.
sl_pytest(test_ann.py ann
  graph_search_delete_restart corrupt_graph_rebuilt bad_settings_refused)
