"""The command line: the only place that prints, reads flags or exits. Nothing heavy is imported at
module level here, so ``--help`` and TAB completion stay fast."""
