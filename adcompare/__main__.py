import sys

from adcompare.cli import main

sys.exit(main())
