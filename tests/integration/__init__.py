"""Library calls against loopback SMTP and HTTP servers and real SQLite files."""
