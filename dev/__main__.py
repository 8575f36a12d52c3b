import sys

from dev.runner import main

sys.exit(main())
