import sys

from appsrc.cli import main

sys.exit(main())
