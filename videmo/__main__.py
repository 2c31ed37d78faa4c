"""python -m videmo: the same command as the videmo console script."""

from videmo.cli import main

main()
