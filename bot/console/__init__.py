"""The `/cx` console: the command registry, managers' commands and App Home."""
