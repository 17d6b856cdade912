# Office and OpenDocument files (DOCX, PPTX, XLSX, ODT, ODP, ODS) through the
# real pipeline: text, tables and pages back through search; uploads sniffed
# by content; hostile containers fail with reasons.
sl_pytest(test_office.py office
  docx_headings_list_table_pages xlsx_sheets_are_pages pptx_slides_and_notes
  odt_text_and_table ods_sheets_are_pages odp_slides_and_notes
  renamed_docx_sniffed_by_content multipart_upload_of_every_type
  hostile_containers_fail_with_reasons legacy_office_refused_at_edge)
