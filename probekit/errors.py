"""The one exception type a user can cause.

Anything a user can get wrong (an unknown name, a malformed file, an option out of range)
raises :class:`ProbekitError` with a message that names the input and says how to fix it.
The CLI prints the message without a traceback and exits with status 2.
"""


class ProbekitError(Exception):
    """A user-facing error: the message names the bad input and the fix."""
