# OCR: scanned pages read by the ocr stage (tests/test_ocr.py). Scans are
# made by each test (mutool draw, img2pdf, PIL) from PDFs it writes.
sl_pytest(test_ocr.py ocr
  scanned_pdf_found_by_search mixed_pdf_sends_only_image_pages text_pdf_skips_ocr
  image_files_are_documents page_timeout_fails_page_not_document
  unreadable_scan_fails_naming_ocr blank_scan_fails_naming_ocr missing_language_refused_at_start
  disabled_says_so runs_as_its_own_process worker_killed_mid_ocr_redelivered)
