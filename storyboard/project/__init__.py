"""The project's records on disk: the clip store, the render state, storyboard.lock, the project lock."""
