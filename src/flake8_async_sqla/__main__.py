import sys

from flake8_async_sqla.cli import main

sys.exit(main())
