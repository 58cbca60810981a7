"""Warnings attributed to the line of the user's code that led to them.

A warning raised deep in a fit would otherwise name a line of sklm (or of
scikit-learn's ``fit`` wrapper, or of joblib running ``n_init`` starts),
which tells the user nothing; Python's ``skip_file_prefixes`` does this from
3.12 on, and sklm supports 3.10.
"""

import os
import sys
import warnings

import joblib
import sklearn

_LIBRARY_DIRS = tuple(os.path.dirname(os.path.abspath(module.__file__)) + os.sep
                      for module in (sys.modules[__package__], sklearn, joblib))


def warn(message, category):
    """``warnings.warn`` at the first calling frame outside sklm, scikit-learn and joblib."""
    # (stacklevel 1 is this function; 2 its caller, the frame _getframe(1) gives)
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_code.co_filename.startswith(_LIBRARY_DIRS):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
