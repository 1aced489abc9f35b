"""Input limits shared by the engine, the workspace index, the CLI and the server."""

MAX_CHARS = 4_000_000  # beyond this a file is skipped with one clear error
