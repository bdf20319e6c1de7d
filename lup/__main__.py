import sys

from lup.cli import main

sys.exit(main())
