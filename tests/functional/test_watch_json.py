#!/usr/bin/env python3
"""The scenarios of test_watch.py again with pyfault-watch --format json
(test_watch.py --json), for make check, which passes no arguments."""
import sys

import test_watch

if __name__ == "__main__":
    sys.argv.append("--json")
    sys.exit(test_watch.main())
