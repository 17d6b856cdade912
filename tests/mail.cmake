# Mail: EML and MBOX messages, attachments as documents of their own
sl_pytest(test_mail.py mail
  message_body_searchable attachments_are_documents attachment_text_searchable
  reingest_creates_no_duplicates mbox_pages_searchable nested_message_bounded bad_message_fails_clearly)
