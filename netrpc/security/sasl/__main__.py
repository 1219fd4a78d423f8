"""``python -m netrpc.security.sasl FILE USER``: the same as ``netrpc-passwd``."""

import sys

from .passwd import main

sys.exit(main())
