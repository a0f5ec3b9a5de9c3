"""``python -m medsr`` (and ``torchrun -m medsr train ...``) run the command line."""

from medsr.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
