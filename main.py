"""Entry point: `python main.py` serves Drafty Bird on HOST:PORT (default 0.0.0.0:8080)."""

from drafty_bird.app import serve

if __name__ in {"__main__", "__mp_main__"}:
    serve()
