"""Inbound e-mail: SMTP receiver and IMAP polling turn mail into tickets and threaded replies."""
