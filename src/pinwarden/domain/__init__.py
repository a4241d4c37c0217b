"""Pure rules: no HTTP, no database, no clock reads (time is passed in)."""
