"""Errors a user can cause: they end in one line and exit code 2, never a traceback."""


class UserError(Exception):
    """Bad config, missing setting, missing permission or resource: the message names it and the fix."""


class SettingsError(UserError):
    """A setting that can't be right (a cluster that isn't there): the daemon exits at start-up
    instead of retrying, since waiting won't fix it (a missing permission may: it is retried)."""
