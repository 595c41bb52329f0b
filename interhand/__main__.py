"""`python -m interhand …`: the CLI without its console script (a machine where the package is only on
PYTHONPATH, e.g. the GPU check's borrowed machine)."""

from interhand.cli import main

if __name__ == "__main__":
    main()
