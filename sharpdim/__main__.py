import sys

from sharpdim.cli import main

sys.exit(main())
