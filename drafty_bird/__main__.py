"""`python -m drafty_bird` serves the game (the same as `python main.py`)."""

from drafty_bird.app import serve

if __name__ in {"__main__", "__mp_main__"}:
    serve()
