"""``python -m ds2_tf.cli``: the same as the ``ds2`` command."""
import sys

from ds2_tf.cli.app import main

sys.exit(main())
