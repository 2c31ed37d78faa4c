"""The one exception type that the CLI turns into a single clear line instead of a traceback."""


class VidemoError(Exception):
    """A problem with the user's input (a file, a folder, an option), stated in one line."""
