"""NiceGUI pages and the browser game component."""
