"""hfdiag: at which service boundary does the evidence of a Hugging Face Spaces failure disappear?"""

import time as _time

__version__ = "0.1.0"
STARTED = _time.monotonic()  # when the process imported hfdiag: `check --timeout` counts from here
