import sys

from irforge.cli import main

sys.exit(main())
