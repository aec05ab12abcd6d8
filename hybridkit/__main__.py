import sys

from hybridkit.cli import main

sys.exit(main())
