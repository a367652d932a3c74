"""The browser app (Gradio): one page class per tab and per chat panel, saved chats, escaped
rendering, page images, uploads. May import ``owner``, ``components`` and everything below them;
never ``cli``."""
