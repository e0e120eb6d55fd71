"""``python -m worker`` → the CLI."""

from worker.cli import main

if __name__ == "__main__":
    main()
