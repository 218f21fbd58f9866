"""The one exception type for problems a user can cause and fix."""


class GlymphError(Exception):
    """Bad input or an impossible request.

    The message says what is wrong and how to fix it, in one line. The command line prints it
    without a traceback and exits with status 2; Slicer modules show it in a message box.
    """
