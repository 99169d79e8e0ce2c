import sys

from genet_lab.cli.main import main

sys.exit(main())
