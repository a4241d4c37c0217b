"""Drivers: the only code that talks to locks."""
