import sys

from sharpdim.lab.cli import main

sys.exit(main())
