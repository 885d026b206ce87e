"""Errors a user can cause: they end in one line and exit code 2, never a traceback."""


class UserError(Exception):
    """Bad config, missing setting, missing permission or resource: the message names it and the fix."""
