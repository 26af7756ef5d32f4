"""The one base class for errors a user can cause and fix (a bad flag, a missing tool or file).

The CLI catches it once and prints ``error: <message>`` with exit code 2; anything else is a
bug and keeps its traceback. Plain ValueError / FileNotFoundError from argument checks are
treated the same way (see ``training.cli.USER_ERRORS``).
"""

from __future__ import annotations


class UserError(Exception):
    """Something the user can fix; the message says what and how."""
