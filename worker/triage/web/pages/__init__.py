"""The app's pages, one module per part: sign-in, the queue, an item, the stats, operations."""
