"""The bulk-mail delivery worker (``classhub mailer``): claims outbox rows, sends, records."""
