"""The conformance suite itself: one `test_<area>.py` per area, its requirements in `requirements/<area>.py`.

The plugin runs the tests of this folder when a server is named and no test path is given, so the
installed wheel is the whole suite.
"""

from pathlib import Path

SUITE_DIR = Path(__file__).resolve().parent
