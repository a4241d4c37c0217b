"""Durable state: tables, the database handle, queries and migrations."""
