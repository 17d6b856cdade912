# answers.cmake: answers a person can open (tests/test_answers.py, one ctest
# per behaviour): each hit's highlights are the words the ranking matched
# (on SQLite and on PostgreSQL), and its document_url opens the stored
# document at the hit's page, served by the edge within the workspace's
# access rules. Included from tests/CMakeLists.txt.
sl_pytest(test_answers.py answers
  highlights_are_the_ranked_words_sqlite highlights_are_the_ranked_words_postgres
  highlights_code_points_in_every_mode content_is_the_uploaded_bytes content_range
  content_html_is_sandboxed content_within_workspace content_hostile_ids content_gone_is_410
  hit_link_opens_its_page python_client_highlights_and_content cli_search_shows_link_and_bold_words)
