import sys

from dev.deploy_check.check import main

sys.exit(main())
