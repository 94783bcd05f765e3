"""The one palette: CSS variables for the page and the game's styles, and a prop for the game's canvas."""

PALETTE = {
    "navy": "#1C4C75",
    "green": "#04B290",
    "amber": "#FCAF1F",
    "blue": "#2597EC",
    "pale": "#F0F7F9",
    "white": "#FFFFFF",
    "error": "#B3261E",
}
FONT = "Lato, system-ui, sans-serif"  # no web fonts: Lato when installed, else the system's
THEME = {"colors": PALETTE, "font": FONT}  # game.js draws its canvas with this


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def css_variables() -> str:
    """`:root` custom properties: --db-<name> per colour, --db-font, and navy's translucent shades."""
    colours = "".join(f"--db-{name}:{value};" for name, value in PALETTE.items())
    shades = f"--db-shadow:{_rgba(PALETTE['navy'], 0.25)};--db-veil:{_rgba(PALETTE['navy'], 0.55)};"
    return f":root{{{colours}{shades}--db-font:{FONT}}}"
