"""The web console: server-rendered pages under ``/console`` on top of the API's handlers."""

from pinwarden.console.app import Console, mount_console

__all__ = ["Console", "mount_console"]
