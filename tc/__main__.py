"""`python -m tc` is the `tc` command."""

import sys

from tc.tools.cli import main

sys.exit(main())
