"""python -m softmax_c: the self-check.  Prints version, CPU and variant,
checks every op against NumPy (PASS/FAIL), and times a few shapes."""
import sys

from ._selfcheck import main

sys.exit(main())
