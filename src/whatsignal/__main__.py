"""``python -m whatsignal``."""

import sys

from whatsignal.cli import main

sys.exit(main())
