"""Pure units: functions called directly, with no server, no subprocess and no database."""
